"""How every Kafka client of the product encrypts and logs in: one record built from the settings.

The workers talk to Kafka through two libraries: Faust's consumer and producer are aiokafka's,
everything else (the router's and writers' outboxes, the HTTP publisher, topic creation, the
broker watch, replay, rebuild, the producers, the benchmarks) is confluent-kafka's librdkafka.
Both must get the same protocol, mechanism, user and files, or a worker would connect half of
itself. So ``KafkaSecurity`` is checked once, here, and turned into each library's terms:
``librdkafka_options`` (below) and Faust's credentials (``faust_credentials.py``, apart because
it imports Faust, which the gateway must not).

Every confluent-kafka configuration is made by ``client_config``, the only place in the product
that names ``bootstrap.servers`` (a unit test refuses it anywhere else), so a new client cannot
leave the security settings out.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from processor.errors import StartupError
from processor.settings import Settings, get_settings

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})

# What ``librdkafka_options`` may set: the callers of ``client_config`` may not set them again.
SECURITY_OPTIONS = frozenset({
    "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.mechanisms",
    "sasl.username", "sasl.password", "ssl.ca.location", "ssl.certificate.location",
    "ssl.key.location", "ssl.key.password",
})


@dataclass(frozen=True)
class KafkaSecurity:
    """The ``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*`` and ``KAFKA_SSL_*`` settings, checked:
    an instance that exists is one both client libraries can use (or a file went away since)."""

    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism | None = None
    username: str | None = None
    password: SecretStr | None = None  # a SecretStr: the repr shows '**********'
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:  # the first: one line, and the fix of one often settles the next
            raise StartupError(problems[0])

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        security = cls(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            ca_file=settings.kafka_ssl_ca_file,
            cert_file=settings.kafka_ssl_cert_file,
            key_file=settings.kafka_ssl_key_file,
        )
        if security.protocol != "PLAINTEXT" and not settings.kafka_bootstrap_servers:
            raise StartupError(
                f"KAFKA_SECURITY_PROTOCOL={security.protocol} needs KAFKA_BOOTSTRAP_SERVERS: "
                "without it the embedded broker is used, and it speaks PLAINTEXT only. Point "
                "KAFKA_BOOTSTRAP_SERVERS at your Kafka, or unset KAFKA_SECURITY_PROTOCOL.")
        return security

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in SASL_PROTOCOLS

    @property
    def uses_tls(self) -> bool:
        return self.protocol in TLS_PROTOCOLS

    def librdkafka_options(self) -> dict[str, str]:
        """The confluent-kafka (librdkafka) options; none for PLAINTEXT, so a client's
        configuration is what it was before these settings existed.

        Holds the password in clear, as librdkafka needs it: give it to a client, never log it.
        """
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, str] = {"security.protocol": self.protocol}
        if self.uses_sasl:
            assert self.mechanism and self.username and self.password  # __post_init__
            options.update({
                "sasl.mechanism": self.mechanism,
                "sasl.username": self.username,
                "sasl.password": self.password.get_secret_value(),
            })
        if self.ca_file:
            options["ssl.ca.location"] = str(self.ca_file)
        if self.cert_file and self.key_file:
            options["ssl.certificate.location"] = str(self.cert_file)
            options["ssl.key.location"] = str(self.key_file)
        return options

    def client_config(self, bootstrap: str, **extra: Any) -> dict[str, Any]:
        """A confluent-kafka client's configuration with these settings (``client_config``
        below gives this process's). ``extra`` may not set the security options again."""
        clash = sorted(SECURITY_OPTIONS.intersection(extra))
        if clash:
            raise ValueError(f"client_config: {', '.join(clash)} come from the bootstrap "
                             "argument and the KAFKA_* settings, not from a client's options")
        return {"bootstrap.servers": bootstrap, **extra, **self.librdkafka_options()}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of aiokafka (Faust's client), None without TLS.

        It checks what librdkafka checks by default: the broker's certificate against
        ``ca_file`` (the system's CAs when unset) and its host name. Reading the files here at
        start-up also tells a file that is not PEM, naming its setting, before any client
        meets it.
        """
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None)
        except (ssl.SSLError, OSError) as exc:
            raise StartupError(
                f"KAFKA_SSL_CA_FILE={self.ca_file} could not be read as PEM CA certificates "
                f"({_reason(exc)}). Give the PEM file of the CA that signed the brokers' "
                "certificates.") from None
        if self.cert_file and self.key_file:
            try:
                context.load_cert_chain(str(self.cert_file), str(self.key_file),
                                        password=self._encrypted_key)
            except (ssl.SSLError, OSError) as exc:
                raise StartupError(
                    f"KAFKA_SSL_CERT_FILE={self.cert_file} and KAFKA_SSL_KEY_FILE="
                    f"{self.key_file} are not a PEM certificate and its private key "
                    f"({_reason(exc)}). Check that the key is the certificate's.") from None
        return context

    def _encrypted_key(self) -> str:
        """Called by OpenSSL for a key that needs a password: refuse (no setting gives one)
        rather than let OpenSSL ask for it on a terminal a worker does not have."""
        raise StartupError(
            f"KAFKA_SSL_KEY_FILE={self.key_file} is encrypted, and no setting gives its "
            "password. Decrypt it (`openssl pkey -in KEY -out PLAIN_KEY`) and keep the "
            "plain key readable by this service only.")


def _problems(s: KafkaSecurity) -> list[str]:
    """What is wrong with ``s``, each said with the setting to fix, in the order to fix it."""
    name = f"KAFKA_SECURITY_PROTOCOL={s.protocol}"
    sasl = {"KAFKA_SASL_MECHANISM": s.mechanism, "KAFKA_SASL_USERNAME": s.username,
            "KAFKA_SASL_PASSWORD": s.password}
    files = {"KAFKA_SSL_CA_FILE": s.ca_file, "KAFKA_SSL_CERT_FILE": s.cert_file,
             "KAFKA_SSL_KEY_FILE": s.key_file}
    problems = []
    if s.uses_sasl:
        missing = [variable for variable, value in sasl.items() if not value]
        if missing:
            problems.append(
                f"{name} logs in with SASL, but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set. Set "
                "KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.")
    else:
        given = [variable for variable, value in sasl.items() if value]
        if given:
            problems.append(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set, but {name} "
                "does not log in with SASL. Set KAFKA_SECURITY_PROTOCOL=SASL_SSL (or "
                "SASL_PLAINTEXT), or unset them.")
    if not s.uses_tls:
        given = [variable for variable, value in files.items() if value]
        if given:
            problems.append(
                f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} set, but {name} "
                "does not use TLS. Set KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL), or unset "
                "them.")
    if bool(s.cert_file) != bool(s.key_file):
        have, lack = (("KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE") if s.cert_file
                      else ("KAFKA_SSL_KEY_FILE", "KAFKA_SSL_CERT_FILE"))
        problems.append(
            f"{have} is set without {lack}: a client certificate (mutual TLS) needs both, "
            "the certificate and its private key.")
    for variable, path in files.items():
        if path is not None and not path.is_file():
            where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
            problems.append(
                f"{variable}={path}: {'not a file' if path.exists() else 'no such file'}"
                f"{where}. Give the path of a PEM file.")
    return problems


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def configured() -> KafkaSecurity:
    """This process's security, from its one settings object (``get_settings``).

    Read afresh each time, not cached: clients are made seldom, and the gateway's processes
    clear the settings they inherited before reading their own.
    """
    return KafkaSecurity.from_settings(get_settings())


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """The configuration of any confluent-kafka Producer, Consumer or AdminClient: the brokers,
    this process's security settings, and the client's own options (``**{"group.id": ...}``)."""
    return configured().client_config(bootstrap, **extra)
