"""The router gate on the real broker and PostgreSQL: a backlog worked off with the router held
back again and again loses nothing, counts nothing twice, no held router is taken for a
stalled one, and the gate's timer never overlaps itself."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import APP_ID, PARTITIONS
from tests.helpers import http_json, publish, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration

DEVICES = 300
MINUTES = 60  # 18,000 single-reading messages


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def stored(dsn: str, run: str) -> int:
    return int(query(dsn, "SELECT (SELECT count(*) FROM meter_history WHERE meter_id LIKE %s) "
                          "+ (SELECT count(*) FROM vehicle_history WHERE vehicle_id LIKE %s)",
                     (f"M{run}%", f"V{run}%"))[0][0])


def test_a_backlog_worked_off_with_the_router_held_back_is_stored_exactly_once(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    run = uid()
    start = datetime(2026, 1, 5, tzinfo=UTC)
    readings = []
    for minute in range(MINUTES):
        ts = (start + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
        for d in range(DEVICES // 2):
            readings.append({"meterId": f"M{run}-{d}", "kwhConsumedAc": 0.125, "voltage": 230.0,
                             "timestamp": ts})
            readings.append({"vehicleId": f"V{run}-{d}", "soc": 50.0, "kwhDeliveredDc": 0.125,
                             "batteryTemp": 25.0, "timestamp": ts})
    # One routed record waiting is enough to hold the router back, and a held router that the
    # watchdog took for a stalled one would end the worker within seconds.
    env = {"TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID, "ROUTER_PAUSE_LAG": "1",
           "BROKER_MAX_POLL_RECORDS": "200", "STALL_SECONDS": "3"}
    worker = start_worker(own_broker, own_database, tmp_path, **env)
    try:
        publish(own_broker, readings)
        wait_until(lambda: stored(own_database, run) >= len(readings), timeout=180,
                   what="the backlog in the history")
        assert stored(own_database, run) == len(readings)
        rollups = query(own_database, "SELECT (SELECT sum(readings) FROM meter_hourly) + "
                                      "(SELECT sum(readings) FROM vehicle_hourly)")[0][0]
        assert rollups == len(readings)
        assert metric(worker.url, "energy_router_pauses_total") > 0  # the gate held it back
        assert worker.proc.poll() is None, worker.log()
        # the gate's ticks never wait for the broker (its answers take up to a fetch's wait)
        assert "gate_router is overlapping" not in worker.log()
        status, body = http_json(f"{worker.url}/readyz")
        assert status == 200, body
    finally:
        worker.stop()
