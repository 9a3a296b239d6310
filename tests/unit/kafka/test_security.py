"""The Kafka security settings: how they map onto librdkafka's options, and what is refused.

No broker: a confluent-kafka client is made (it reads its files and checks every option when
it is created) and dropped, pointed at a port where nothing listens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr, ValidationError

from processor.errors import StartupError
from processor.kafka.producer import producer_config
from processor.kafka.security import KafkaSecurity, client_config, configured
from processor.settings import Settings, get_settings
from tests.pki import Pki

PASSWORD = "hunter2-not-for-logs"
NOWHERE = "127.0.0.1:9"  # nothing listens: a client is made, never connected


def settings(**values: Any) -> Settings:
    """Settings from these values alone (no .env), with a broker: TLS and SASL need one."""
    values.setdefault("kafka_bootstrap_servers", "kafka.example.com:9093")
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def sasl(protocol: str = "SASL_SSL", mechanism: str = "SCRAM-SHA-512", **more: Any) -> Settings:
    return settings(kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism,
                    kafka_sasl_username="energy", kafka_sasl_password=PASSWORD, **more)


def accepted_by_librdkafka(options: dict[str, Any]) -> None:
    """Raises KafkaException for an unknown option or value, or a file librdkafka cannot
    load (CA, certificate, key that does not match it)."""
    producer = Producer({**options, "log_level": 0})
    producer.flush(0)
    del producer


# ---- settings -------------------------------------------------------------------------------

def test_plaintext_is_the_default_and_adds_no_option(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
                     "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE",
                     "KAFKA_SSL_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    security = KafkaSecurity.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert security == KafkaSecurity()
    assert security.librdkafka_options() == {}
    assert security.ssl_context() is None
    # the embedded broker (no KAFKA_BOOTSTRAP_SERVERS) keeps working as before
    assert security.client_config("127.0.0.1:9092", **{"group.id": "g"}) == {
        "bootstrap.servers": "127.0.0.1:9092", "group.id": "g"}


def test_settings_come_from_the_environment_in_any_case(monkeypatch: pytest.MonkeyPatch,
                                                         pki: Pki) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "scram-sha-256")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "energy")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("KAFKA_SSL_CA_FILE", str(pki.ca))
    monkeypatch.setenv("KAFKA_SSL_CERT_FILE", "")  # empty, as `${VAR:-}` in a compose file
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert s.kafka_sasl_password is not None
    assert s.kafka_sasl_password.get_secret_value() == PASSWORD
    assert (s.kafka_ssl_ca_file, s.kafka_ssl_cert_file) == (pki.ca, None)


def test_an_unknown_protocol_or_mechanism_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        settings(kafka_security_protocol="TLS")
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        settings(kafka_sasl_mechanism="GSSAPI")


# ---- onto librdkafka ------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_logs_in_with_the_mechanism(mechanism: str) -> None:
    security = KafkaSecurity.from_settings(sasl("SASL_PLAINTEXT", mechanism))
    assert security.librdkafka_options() == {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism,
        "sasl.username": "energy", "sasl.password": PASSWORD}
    accepted_by_librdkafka(security.client_config(NOWHERE))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_logs_in_over_tls_checked_against_the_ca(mechanism: str, pki: Pki) -> None:
    security = KafkaSecurity.from_settings(sasl("SASL_SSL", mechanism,
                                                kafka_ssl_ca_file=pki.ca))
    assert security.librdkafka_options() == {
        "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
        "sasl.username": "energy", "sasl.password": PASSWORD,
        "ssl.ca.location": str(pki.ca)}
    accepted_by_librdkafka(security.client_config(NOWHERE))


def test_sasl_ssl_without_a_ca_file_trusts_the_systems_cas() -> None:
    options = KafkaSecurity.from_settings(sasl("SASL_SSL")).librdkafka_options()
    assert "ssl.ca.location" not in options
    assert options["security.protocol"] == "SASL_SSL"


def test_mutual_tls_presents_the_client_certificate(pki: Pki) -> None:
    security = KafkaSecurity.from_settings(settings(
        kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca,
        kafka_ssl_cert_file=pki.client_cert, kafka_ssl_key_file=pki.client_key))
    assert security.librdkafka_options() == {
        "security.protocol": "SSL", "ssl.ca.location": str(pki.ca),
        "ssl.certificate.location": str(pki.client_cert),
        "ssl.key.location": str(pki.client_key)}
    accepted_by_librdkafka(security.client_config(NOWHERE))


def test_librdkafka_refuses_a_key_that_is_not_the_certificates(pki: Pki) -> None:
    """The check ``accepted_by_librdkafka`` relies on: librdkafka reads the files at once."""
    security = KafkaSecurity(protocol="SSL", cert_file=pki.client_cert, key_file=pki.other_key)
    with pytest.raises(Exception, match="ssl"):
        accepted_by_librdkafka(security.client_config(NOWHERE))


def test_every_client_config_carries_the_processes_security(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``client_config`` reads the security from the one settings object; the producers'
    configuration goes through it."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "energy")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    try:
        assert configured().protocol == "SASL_PLAINTEXT"
        config = producer_config("b1:9093", **{"linger.ms": 0})
        assert config["security.protocol"] == "SASL_PLAINTEXT"
        assert config["sasl.password"] == PASSWORD
        assert (config["linger.ms"], config["acks"]) == (0, "all")
        assert client_config("b1:9093")["sasl.username"] == "energy"
    finally:
        get_settings.cache_clear()


def test_a_client_cannot_set_the_security_options_itself() -> None:
    with pytest.raises(ValueError, match="security.protocol"):
        KafkaSecurity().client_config(NOWHERE, **{"security.protocol": "PLAINTEXT"})
    with pytest.raises(ValueError, match="bootstrap.servers"):
        producer_config(NOWHERE, **{"bootstrap.servers": "elsewhere:9092"})


# ---- refused at start-up, naming the setting ------------------------------------------------

@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_without_mechanism_user_or_password_is_refused(protocol: str) -> None:
    with pytest.raises(StartupError) as exc:
        KafkaSecurity.from_settings(settings(kafka_security_protocol=protocol))
    assert (f"KAFKA_SECURITY_PROTOCOL={protocol} logs in with SASL, but KAFKA_SASL_MECHANISM, "
            "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD are not set") in str(exc.value)
    with pytest.raises(StartupError, match="but KAFKA_SASL_PASSWORD is not set"):
        KafkaSecurity.from_settings(settings(
            kafka_security_protocol=protocol, kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="energy"))


def test_sasl_settings_without_a_sasl_protocol_are_refused_not_ignored() -> None:
    with pytest.raises(StartupError) as exc:
        KafkaSecurity.from_settings(settings(kafka_sasl_username="energy",
                                             kafka_sasl_password=PASSWORD))
    assert str(exc.value).startswith(
        "KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD are set, but KAFKA_SECURITY_PROTOCOL="
        "PLAINTEXT does not log in with SASL")


def test_tls_files_without_a_tls_protocol_are_refused(pki: Pki) -> None:
    with pytest.raises(StartupError, match="KAFKA_SSL_CA_FILE is set, but KAFKA_SECURITY_"
                                           "PROTOCOL=SASL_PLAINTEXT does not use TLS"):
        KafkaSecurity.from_settings(sasl("SASL_PLAINTEXT", kafka_ssl_ca_file=pki.ca))


def test_a_certificate_without_its_key_or_a_key_without_its_certificate_is_refused(
        pki: Pki) -> None:
    with pytest.raises(StartupError, match="KAFKA_SSL_CERT_FILE is set without "
                                           "KAFKA_SSL_KEY_FILE"):
        KafkaSecurity.from_settings(settings(kafka_security_protocol="SSL",
                                             kafka_ssl_cert_file=pki.client_cert))
    with pytest.raises(StartupError, match="KAFKA_SSL_KEY_FILE is set without "
                                           "KAFKA_SSL_CERT_FILE"):
        KafkaSecurity.from_settings(settings(kafka_security_protocol="SSL",
                                             kafka_ssl_key_file=pki.client_key))


def test_a_file_that_does_not_exist_is_refused_naming_the_setting(tmp_path: Path,
                                                                 pki: Pki) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(StartupError, match=f"KAFKA_SSL_CA_FILE={missing}: no such file"):
        KafkaSecurity.from_settings(settings(kafka_security_protocol="SSL",
                                             kafka_ssl_ca_file=missing))
    with pytest.raises(StartupError, match=f"KAFKA_SSL_KEY_FILE={tmp_path}: not a file"):
        KafkaSecurity.from_settings(settings(kafka_security_protocol="SSL",
                                             kafka_ssl_cert_file=pki.client_cert,
                                             kafka_ssl_key_file=tmp_path))
    with pytest.raises(StartupError, match=r"KAFKA_SSL_CA_FILE=ca\.pem: no such file \(relative"):
        KafkaSecurity(protocol="SSL", ca_file=Path("ca.pem"))


def test_tls_or_sasl_towards_the_embedded_broker_is_refused() -> None:
    with pytest.raises(StartupError, match="KAFKA_SECURITY_PROTOCOL=SASL_SSL needs "
                                           "KAFKA_BOOTSTRAP_SERVERS"):
        KafkaSecurity.from_settings(sasl(kafka_bootstrap_servers=None))


def test_a_ca_file_that_is_not_pem_is_refused_naming_the_setting(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    security = KafkaSecurity(protocol="SSL", ca_file=not_pem)
    with pytest.raises(StartupError, match=f"KAFKA_SSL_CA_FILE={not_pem} could not be read"):
        security.ssl_context()


def test_a_key_that_is_not_the_certificates_is_refused_naming_both(pki: Pki) -> None:
    security = KafkaSecurity(protocol="SSL", cert_file=pki.client_cert, key_file=pki.other_key)
    with pytest.raises(StartupError, match=f"KAFKA_SSL_CERT_FILE={pki.client_cert} and "
                                           f"KAFKA_SSL_KEY_FILE={pki.other_key} are not"):
        security.ssl_context()


def test_an_encrypted_key_is_refused_instead_of_prompting_for_its_password(pki: Pki) -> None:
    security = KafkaSecurity(protocol="SSL", cert_file=pki.client_cert,
                             key_file=pki.client_key_encrypted)
    with pytest.raises(StartupError, match="KAFKA_SSL_KEY_FILE=.* is encrypted"):
        security.ssl_context()


# ---- the password is never shown ------------------------------------------------------------

def test_the_password_shows_in_no_repr_str_or_dump(pki: Pki) -> None:
    s = sasl(kafka_ssl_ca_file=pki.ca)
    security = KafkaSecurity.from_settings(s)
    for text in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump()),
                 repr(security), str(security)):
        assert PASSWORD not in text
    assert "**********" in repr(security)
    assert security.password == SecretStr(PASSWORD)


def test_no_error_message_shows_the_password() -> None:
    with pytest.raises(StartupError) as exc:
        KafkaSecurity.from_settings(settings(kafka_sasl_password=PASSWORD))
    assert "KAFKA_SASL_PASSWORD is set" in str(exc.value)
    assert PASSWORD not in str(exc.value)
