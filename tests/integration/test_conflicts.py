"""A reading that contradicts a stored one is seen; an identical redelivery stays silent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import ROOT, Worker, publish, query, read_topic, uid, wait_until

pytestmark = pytest.mark.integration


def metric(worker: Worker, name: str, **labels: str) -> float:
    """A sample's value from the worker's /metrics (0 when it has none yet)."""
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def dead_letters_of(bootstrap: str, field: str, device: str, expected: int,
                    timeout: float = 30) -> list[dict[str, Any]]:
    """The conflict dead letters of one device (``field``: meterId or vehicleId)."""
    def match(value: bytes) -> bool:
        if device.encode() not in value:
            return False
        record = json.loads(value)
        return (record["reason"] == "conflicts with stored reading"
                and json.loads(record["original"]).get(field) == device)

    return read_topic(bootstrap, "telemetry.dlq", match, expected=expected, timeout=timeout)


def test_a_contradicting_reading_goes_to_the_dead_letters_with_both_values(
        services: Services, worker: Worker) -> None:
    run = uid()
    meter, vehicle = f"MC{run}", f"VC{run}"
    ts = "2026-01-03T10:00:00Z"
    first = [{"meterId": meter, "kwhConsumedAc": 1.0, "voltage": 230.0, "timestamp": ts},
             {"vehicleId": vehicle, "soc": 50.0, "kwhDeliveredDc": 0.9, "batteryTemp": 30.0,
              "meterId": meter, "timestamp": ts}]
    start = datetime.now(UTC) - timedelta(seconds=1)
    publish(services.bootstrap, first)
    wait_until(lambda: query(services.dsn, "SELECT kwh_consumed_ac FROM meter_history WHERE "
                             "meter_id = %s", (meter,)) == [(1.0,)], what="the first reading")
    wait_until(lambda: query(services.dsn, "SELECT 1 FROM vehicle_history WHERE "
                             "vehicle_id = %s", (vehicle,)), what="the vehicle's reading")
    duplicates = metric(worker, "energy_history_rows_total", type="meter", outcome="duplicate")
    conflicts = metric(worker, "energy_history_rows_total", type="meter", outcome="conflict")

    # A producer re-sends the same device and time with other values, and once identically.
    publish(services.bootstrap, [{**first[0], "kwhConsumedAc": 99.0}, first[0],
                                 {**first[1], "meterId": f"M2{run}"}])
    found = dead_letters_of(services.bootstrap, "meterId", meter, expected=1)
    assert len(found) == 1, found
    letter = found[0]
    assert letter["reason"] == "conflicts with stored reading"
    assert letter["errors"] == [{"field": "kwhConsumedAc",
                                 "message": "99.0 received, 1.0 stored"}]
    assert json.loads(letter["original"]) == {"type": "meter", "meterId": meter,
                                              "kwhConsumedAc": 99.0, "voltage": 230.0,
                                              "timestamp": ts}
    assert letter["stored"]["kwhConsumedAc"] == 1.0
    assert letter["source"]["topic"] == "telemetry.meter"
    assert letter["source"]["offset"] <= letter["source"]["lastOffset"]
    [by_vehicle] = dead_letters_of(services.bootstrap, "vehicleId", vehicle, expected=1)
    assert by_vehicle["errors"] == [{"field": "meterId",
                                     "message": f"'M2{run}' received, '{meter}' stored"}]
    # the stored reading stands
    assert query(services.dsn, "SELECT kwh_consumed_ac FROM meter_history WHERE meter_id = %s",
                 (meter,)) == [(1.0,)]
    # the metrics tell an identical redelivery from a contradiction
    wait_until(lambda: metric(worker, "energy_history_rows_total", type="meter",
                              outcome="conflict") == conflicts + 1, what="the conflict metric")
    assert metric(worker, "energy_history_rows_total", type="meter",
                  outcome="duplicate") == duplicates + 1

    # A replay of the same topic: counted as conflicting, no new dead letter.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap,
           "DATABASE_URL": services.dsn, "TELEMETRY_PARTITIONS": str(PARTITIONS),
           "APP_ID": APP_ID}
    done = subprocess.run([sys.executable, "-m", "processor.ops.cli", "replay", "--from",
                           start.isoformat()], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if "replay: done" in ln]
    assert "conflicting 2," in line, line
    assert len(dead_letters_of(services.bootstrap, "meterId", meter, expected=2, timeout=5)) == 1
