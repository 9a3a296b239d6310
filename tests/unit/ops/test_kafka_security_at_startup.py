"""Kafka security settings that cannot work stop every command at once, in one line that
names the setting (``energy-ingest`` exits 2, and ``up`` starts nothing)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from processor.errors import EXIT_STARTUP
from processor.ops.cli import main
from processor.settings import get_settings

PASSWORD = "hunter2-not-for-logs"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The command's environment; the settings are read afresh from it, and again after
    (with the log levels ``main`` sets put back)."""
    levels = {name: logging.getLogger(name).level
              for name in ("pgserver", "faust", "aiokafka", "mode")}
    for variable in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
                     "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CA_FILE", "KAFKA_SSL_CERT_FILE",
                     "KAFKA_SSL_KEY_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example.com:9093")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("command", [["topics"], ["up"], ["worker"], ["publish", "-"]])
def test_sasl_without_a_password_stops_the_command_naming_it(
        environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        command: list[str]) -> None:
    environment.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    environment.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    environment.setenv("KAFKA_SASL_USERNAME", "energy")
    assert main(command) == EXIT_STARTUP
    err = capsys.readouterr().err
    assert err == ("error: KAFKA_SECURITY_PROTOCOL=SASL_SSL logs in with SASL, but "
                   "KAFKA_SASL_PASSWORD is not set. Set KAFKA_SASL_MECHANISM (PLAIN, "
                   "SCRAM-SHA-256 or SCRAM-SHA-512), KAFKA_SASL_USERNAME and "
                   "KAFKA_SASL_PASSWORD.\n")


def test_a_missing_ca_file_stops_the_command_naming_it(
        environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    environment.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    environment.setenv("KAFKA_SSL_CA_FILE", "/nonexistent/ca.pem")
    assert main(["topics"]) == EXIT_STARTUP
    assert capsys.readouterr().err.startswith(
        "error: KAFKA_SSL_CA_FILE=/nonexistent/ca.pem: no such file.")


def test_the_password_is_not_in_the_error(environment: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    environment.setenv("KAFKA_SASL_PASSWORD", PASSWORD)  # with PLAINTEXT: refused
    assert main(["topics"]) == EXIT_STARTUP
    err = capsys.readouterr().err
    assert err.startswith("error: KAFKA_SASL_PASSWORD is set, but KAFKA_SECURITY_PROTOCOL="
                          "PLAINTEXT does not log in with SASL")
    assert PASSWORD not in err
