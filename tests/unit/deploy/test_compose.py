"""docker-compose.yml, checked as far as it can be without a Docker engine.

Every variable our services set is a setting that validates, every command is a real
`energy-ingest` command line, dependencies and health checks agree, ports match WEB_PORT, the
load balancer reaches the gateways and the gateways the workers.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from processor.ops.cli import parser
from processor.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
# Services that run images of others; their variables belong to those images.
FOREIGN_IMAGES = {"kafka": "apache/kafka:", "postgres": "postgres:16", "lb": "nginx:"}
SERVING = ("worker", "gateway")  # our long-running services, each with a web server
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}`` with nothing set in the environment: the default."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda m: m.group("default") or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def ours(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if name not in FOREIGN_IMAGES}


def env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # KEY=value form
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(v) for k, v in raw.items()}


def known_settings() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_the_expected_services_are_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= {"kafka", "postgres", "migrate", "topics", "worker", "gateway",
                             "lb", "simulator"}
    for name, prefix in FOREIGN_IMAGES.items():
        assert services[name]["image"].startswith(prefix)
    for name, service in ours(services).items():
        assert service["image"] == "energy-ingest:latest", name
        assert service["build"]["context"] == ".", name


def test_every_variable_of_our_services_is_a_valid_setting(
        services: dict[str, dict[str, Any]]) -> None:
    for name, service in ours(services).items():
        variables = env(service)
        unknown = set(variables) - known_settings()
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"
        # ... and their values validate (types, ranges), as the container would read them.
        Settings(_env_file=None, **{k.lower(): v for k, v in variables.items()})


def test_variables_of_kafka_and_postgres_are_theirs(services: dict[str, dict[str, Any]]) -> None:
    kafka, postgres = env(services["kafka"]), env(services["postgres"])
    assert all(k.startswith("KAFKA_") or k == "CLUSTER_ID" for k in kafka)
    assert all(k.startswith("POSTGRES_") for k in postgres)


@pytest.mark.parametrize("name", ["migrate", "topics", "worker", "gateway", "simulator"])
def test_every_command_is_a_real_energy_ingest_command(
        services: dict[str, dict[str, Any]], name: str) -> None:
    command = services[name]["command"]
    assert isinstance(command, list) and command, "exec form: the image's ENTRYPOINT runs it"
    parser().parse_args(command)  # the whole argument list parses (SystemExit otherwise)
    script = shutil.which("energy-ingest", path=str(Path(sys.executable).parent))
    assert script, "the energy-ingest console script is not installed in this venv"
    done = subprocess.run([script, command[0], "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"usage: energy-ingest {command[0]}" in done.stdout


def test_dependencies_exist_and_their_conditions_can_be_met(
        services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert "profiles" not in services[target], f"{name} needs optional {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"
            else:
                assert condition == "service_started", condition
    deps = services["worker"]["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["topics"]["condition"] == "service_completed_successfully"
    assert services["gateway"]["depends_on"]["worker"]["condition"] == "service_healthy"
    assert services["lb"]["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_health_checks_on_the_broker_database_and_workers(
        services: dict[str, dict[str, Any]]) -> None:
    for name in ("kafka", "postgres", *SERVING):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in SERVING:
        probe = " ".join(services[name]["healthcheck"]["test"])
        port = env(services[name])["WEB_PORT"]
        assert f"http://127.0.0.1:{port}/healthz" in probe


def test_workers_scale_out_within_the_partitions(services: dict[str, dict[str, Any]]) -> None:
    replicas = services["worker"]["deploy"]["replicas"]
    assert replicas >= 2
    assert "ports" not in services["worker"], "replicas cannot share a published host port"
    partitions = int(env(services["worker"])["TELEMETRY_PARTITIONS"])
    assert replicas <= partitions  # more would idle
    # One consumer group, one topic layout: every worker agrees on app id and partitions.
    shared = ("APP_ID", "TELEMETRY_PARTITIONS", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    for name, service in ours(services).items():
        assert {k: env(service)[k] for k in shared} == \
            {k: env(services["worker"])[k] for k in shared}, name
    assert env(services["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["simulator"]["profiles"] == ["simulator"]


def test_one_published_port_reaches_the_gateways_and_they_the_workers(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway, worker = env(services["gateway"]), env(services["worker"])
    for name in SERVING:  # reachable from other containers
        assert env(services[name])["WEB_BIND"] == "0.0.0.0", name
        assert "ports" not in services[name], "replicas cannot share a published host port"
    assert services["gateway"]["deploy"]["replicas"] >= 2
    assert gateway["WORKER_URLS"] == f"http://worker:{worker['WEB_PORT']}"
    assert int(gateway["GATEWAY_PROCESSES"]) >= 1
    (mapping,) = services["lb"]["ports"]
    listen = mapping.rsplit(":", 1)[1]
    (config,) = services["lb"]["configs"]
    nginx = compose["configs"][config["source"]]["content"]
    assert config["target"].startswith("/etc/nginx/conf.d/")
    assert f"listen {listen};" in nginx
    assert f"server gateway:{gateway['WEB_PORT']};" in nginx
    host_ports = [p.rsplit(":", 2)[-2] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), f"host port used twice: {host_ports}"


def test_clients_reach_kafka_and_postgres_where_they_listen(
        services: dict[str, dict[str, Any]]) -> None:
    kafka = env(services["kafka"])
    worker = env(services["worker"])
    assert f"PLAINTEXT://{worker['KAFKA_BOOTSTRAP_SERVERS']}" in \
        kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@kafka:9093"
    # The host listener is published on the port it advertises.
    host_listener = next(x for x in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
                         if x.startswith("HOST://"))
    assert f"{host_listener.rsplit(':', 1)[1]}:{host_listener.rsplit(':', 1)[1]}" in \
        services["kafka"]["ports"]
    # Apache Kafka refuses session timeouts below its group.min.session.timeout.ms (6 s).
    assert float(worker["BROKER_SESSION_TIMEOUT"]) >= 6

    postgres = env(services["postgres"])
    url = urlsplit(worker["DATABASE_URL"])
    assert (url.hostname, url.port, url.username, url.password, url.path) == (
        "postgres", 5432, postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"],
        f"/{postgres['POSTGRES_DB']}")


def test_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    mounts = {name: [v.split(":")[0] for v in s.get("volumes", [])]
              for name, s in services.items()}
    assert mounts["kafka"] == ["kafka-data"]
    assert mounts["postgres"] == ["pgdata"]
    assert set(compose["volumes"]) == {"kafka-data", "pgdata"}
    assert services["kafka"]["volumes"][0].endswith(env(services["kafka"])["KAFKA_LOG_DIRS"])
