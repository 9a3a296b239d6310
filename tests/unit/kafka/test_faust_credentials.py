"""The Kafka security settings in the workers' Faust app: what aiokafka gets, and the TLS
context it connects with, shaken hands with a throwaway CA's broker certificate in memory.

No broker: aiokafka's client is made (it checks its security arguments then) and closed
before it connects; the TLS handshake runs between two memory buffers.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import aiokafka
import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from prometheus_client import REGISTRY, generate_latest

from processor.app import faust_app
from processor.errors import StartupError
from processor.kafka.faust_credentials import faust_credentials
from processor.kafka.security import KafkaSecurity
from processor.settings import Settings
from tests.pki import Pki

PASSWORD = "hunter2-not-for-logs"


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path,  # type: ignore[call-arg]
                    kafka_bootstrap_servers="kafka.example.com:9093", **values)


def aiokafka_auth(s: Settings) -> dict[str, Any]:
    """What Faust passes to every aiokafka consumer and producer of the worker's app."""
    conf = faust_app(s).conf
    return dict(credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context))


def accepted_by_aiokafka(auth: dict[str, Any]) -> None:
    """aiokafka's client refuses a protocol, mechanism or missing context when it is made."""
    async def make() -> None:
        client = aiokafka.AIOKafkaClient(bootstrap_servers="127.0.0.1:9", **auth)
        await client.close()

    asyncio.run(make())


def handshake(client: ssl.SSLContext, pki: Pki, host: str = "localhost",
              mutual: bool = True) -> dict[str, Any]:
    """A TLS handshake of ``client`` with a broker holding the CA's "localhost" certificate
    (requiring a client certificate from the same CA when ``mutual``); returns the client
    certificate the broker got ({} without one)."""
    broker = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    broker.load_cert_chain(pki.broker_cert, pki.broker_key)
    if mutual:
        broker.load_verify_locations(pki.ca)
        broker.verify_mode = ssl.CERT_REQUIRED
    to_broker, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_end = client.wrap_bio(to_client, to_broker, server_hostname=host)
    broker_end = broker.wrap_bio(to_broker, to_client, server_side=True)
    done = {"client": False, "broker": False}
    for _ in range(10):
        for name, end in (("client", client_end), ("broker", broker_end)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        if all(done.values()):
            return broker_end.getpeercert() or {}
    raise AssertionError(f"the handshake did not finish: {done}")


def common_name(cert: dict[str, Any]) -> str:
    return next(value for rdn in cert["subject"] for key, value in rdn if key == "commonName")


def test_plaintext_gives_faust_no_credentials(tmp_path: Path) -> None:
    assert faust_credentials(KafkaSecurity()) is None
    assert aiokafka_auth(settings(tmp_path)) == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_logs_faust_in_with_the_mechanism(tmp_path: Path, mechanism: str) -> None:
    auth = aiokafka_auth(settings(
        tmp_path, kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="energy", kafka_sasl_password=PASSWORD))
    assert auth == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
                    "sasl_plain_username": "energy", "sasl_plain_password": PASSWORD,
                    "ssl_context": None}
    accepted_by_aiokafka(auth)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_logs_faust_in_over_tls_that_trusts_the_ca(tmp_path: Path, pki: Pki,
                                                            mechanism: str) -> None:
    auth = aiokafka_auth(settings(
        tmp_path, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="energy", kafka_sasl_password=PASSWORD, kafka_ssl_ca_file=pki.ca))
    context = auth.pop("ssl_context")
    assert auth == {"security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
                    "sasl_plain_username": "energy", "sasl_plain_password": PASSWORD}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    accepted_by_aiokafka({**auth, "ssl_context": context})
    assert handshake(context, pki, mutual=False) == {}  # TLS to the CA's broker; SASL logs in


def test_mutual_tls_gives_faust_a_context_that_trusts_the_ca_and_shows_the_client_cert(
        tmp_path: Path, pki: Pki) -> None:
    s = settings(tmp_path, kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca,
                 kafka_ssl_cert_file=pki.client_cert, kafka_ssl_key_file=pki.client_key)
    credentials = faust_app(s).conf.broker_credentials
    assert isinstance(credentials, faust.SSLCredentials)
    auth = aiokafka_auth(s)
    assert auth["security_protocol"] == "SSL"
    accepted_by_aiokafka(auth)
    presented = handshake(auth["ssl_context"], pki)
    assert common_name(presented) == "energy-ingest"


def test_the_context_refuses_a_broker_certificate_from_another_ca(pki: Pki) -> None:
    context = KafkaSecurity(protocol="SSL", ca_file=pki.other_ca, cert_file=pki.client_cert,
                            key_file=pki.client_key).ssl_context()
    assert context is not None
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(context, pki)


def test_the_context_refuses_a_broker_certificate_for_another_host(pki: Pki) -> None:
    """As librdkafka does by default (ssl.endpoint.identification.algorithm=https)."""
    context = KafkaSecurity(protocol="SSL", ca_file=pki.ca, cert_file=pki.client_cert,
                            key_file=pki.client_key).ssl_context()
    assert context is not None
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        handshake(context, pki, host="kafka.example.com")


def test_faust_app_refuses_settings_that_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="KAFKA_SASL_PASSWORD is not set"):
        faust_app(settings(tmp_path, kafka_security_protocol="SASL_SSL",
                           kafka_sasl_mechanism="PLAIN", kafka_sasl_username="energy"))


def test_the_password_shows_in_no_credentials_repr_nor_metrics(tmp_path: Path,
                                                              pki: Pki) -> None:
    app = faust_app(settings(
        tmp_path, kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="energy", kafka_sasl_password=PASSWORD, kafka_ssl_ca_file=pki.ca))
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert PASSWORD not in repr(credentials) and PASSWORD not in str(credentials)
    assert PASSWORD.encode() not in generate_latest(REGISTRY)  # the worker's /metrics
