"""docker-compose.tls.yml, checked as far as it can be without a Docker engine: laid over
docker-compose.yml as Compose does, every service of ours that talks to Kafka reaches the
broker's TLS listener with the CA mounted where its settings say, the broker's listener and PEM
stores agree with that, and deploy/tls/make-certs.sh makes the files both sides name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.kafka.security import KafkaSecurity
from processor.settings import Settings
from tests.unit.deploy.test_compose import COMPOSE, ROOT, env, interpolate, known_settings

TLS = ROOT / "docker-compose.tls.yml"
MAKE_CERTS = ROOT / "deploy" / "tls" / "make-certs.sh"
KAFKA_CLIENTS = ("topics", "worker", "gateway", "simulator")  # ours that talk to Kafka


def volumes(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path of the bind mounts."""
    found = {}
    for volume in service.get("volumes") or []:
        host, target, *_ = str(volume).split(":")
        found[target] = host
    return found


def merged() -> dict[str, dict[str, Any]]:
    """The services of docker-compose.yml with docker-compose.tls.yml laid over them: as Compose
    merges an override, environment by variable and volumes by container path."""
    base = interpolate(yaml.safe_load(COMPOSE.read_text()))["services"]
    over = interpolate(yaml.safe_load(TLS.read_text()))["services"]
    out = {}
    for name, service in base.items():
        extra = over.get(name, {})
        mounts = {**volumes(service), **volumes(extra)}
        out[name] = {**service, "environment": {**env(service), **env(extra)},
                     "volumes": [f"{h}:{t}" for t, h in mounts.items()]}
    assert set(over) <= set(base), "the override names a service the base does not have"
    return out


def made_by_script() -> set[str]:
    text = MAKE_CERTS.read_text()
    return {name for name in ("ca.pem", "broker.pem", "broker.key", "broker-keystore.pem")
            if name in text}


def test_every_kafka_client_of_ours_speaks_tls_to_the_brokers_tls_listener() -> None:
    services = merged()
    kafka = services["kafka"]["environment"]
    listeners = dict(item.split("://") for item in kafka["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://") for item in
                      kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in
                     kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols["SSL"] == "SSL" and listeners["SSL"] == ":9094"
    for name in KAFKA_CLIENTS:
        variables = services[name]["environment"]
        assert variables["KAFKA_SECURITY_PROTOCOL"] == "SSL", name
        assert variables["KAFKA_BOOTSTRAP_SERVERS"] == advertised["SSL"], name
        ca = volumes(services[name]).get(variables["KAFKA_SSL_CA_FILE"])
        assert ca == "./deploy/tls/ca.pem", (name, services[name]["volumes"])
        unknown = set(variables) - known_settings()
        assert not unknown, (name, unknown)
        Settings(**{k.lower(): v for k, v in variables.items()})  # every value validates
    assert "KAFKA_SECURITY_PROTOCOL" not in services["migrate"]["environment"]  # no Kafka


def test_the_broker_reads_the_files_the_script_makes() -> None:
    kafka = merged()["kafka"]
    mounted = volumes(kafka)
    folder = next(t for t, h in mounted.items() if h == "./deploy/tls")
    variables = kafka["environment"]
    assert variables["KAFKA_SSL_KEYSTORE_TYPE"] == variables["KAFKA_SSL_TRUSTSTORE_TYPE"] == "PEM"
    for key in ("KAFKA_SSL_KEYSTORE_LOCATION", "KAFKA_SSL_TRUSTSTORE_LOCATION"):
        path = Path(variables[key])
        assert str(path.parent) == folder and path.name in made_by_script(), (key, path)


def test_the_script_makes_a_ca_and_a_broker_certificate_our_settings_accept(
        tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    script = tmp_path / "make-certs.sh"
    shutil.copy(MAKE_CERTS, script)
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=60)
    assert made_by_script() <= {p.name for p in tmp_path.iterdir()}
    subprocess.run(["openssl", "verify", "-CAfile", "ca.pem", "broker.pem"], cwd=tmp_path,
                   check=True, capture_output=True)
    names = subprocess.run(["openssl", "x509", "-in", "broker.pem", "-noout", "-ext",
                            "subjectAltName"], cwd=tmp_path, check=True, capture_output=True,
                           text=True).stdout
    assert "DNS:kafka" in names  # the name the services connect to
    keystore = (tmp_path / "broker-keystore.pem").read_text()
    assert keystore.index("PRIVATE KEY") < keystore.index("CERTIFICATE")
    security = KafkaSecurity.from_settings(Settings(
        kafka_bootstrap_servers="kafka:9094", kafka_security_protocol="SSL",
        kafka_ssl_ca_file=tmp_path / "ca.pem"))
    assert security.ssl_context() is not None
