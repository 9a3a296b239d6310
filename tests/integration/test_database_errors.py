"""Errors of the database, by kind: readings it refuses are dead-lettered with its message and
their neighbours written; a permanent condition is reported as degraded until it passes, and
nothing is lost meanwhile. A worker of its own on a broker and database of its own."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import publish, query, read_topic, start_worker, uid, wait_until

pytestmark = pytest.mark.integration


def readiness(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readings_the_database_refuses_are_dead_lettered_and_their_batch_written(
        services: Services, own_broker: str, own_database: str, tmp_path: Path) -> None:
    with psycopg.connect(own_database, autocommit=True) as conn:  # an operator's new rule
        conn.execute("ALTER TABLE meter_history ADD CONSTRAINT voltage_cap "
                     "CHECK (voltage < 1000)")
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    try:
        run = uid()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        readings = [{"meterId": f"MR{run}-{i % 7}", "kwhConsumedAc": 0.1, "voltage": 230.0,
                     "timestamp": (start + timedelta(minutes=i)).isoformat()}
                    for i in range(51)]
        readings[23]["voltage"] = 1500.0  # valid input, refused by the database's new rule
        publish(own_broker, [readings])  # one message of 51 readings
        wait_until(lambda: query(own_database, "SELECT count(*) FROM meter_history WHERE "
                                 "meter_id LIKE %s", (f"MR{run}-%",)) == [(50,)],
                   timeout=30, what="the 50 other readings written")
        letters = read_topic(own_broker, "telemetry.dlq",
                             lambda v: f"MR{run}".encode() in v, expected=1, timeout=30)
        record = letters[0]
        assert record["reason"] == "refused by the database"
        assert "voltage_cap" in record["errors"][0]["message"]
        assert json.loads(record["original"])["voltage"] == 1500.0
        rollup = query(own_database, "SELECT sum(readings) FROM meter_hourly WHERE meter_id "
                       "LIKE %s", (f"MR{run}-%",))
        assert rollup == [(50,)]  # the rollups count exactly what the history holds
        assert worker.proc.poll() is None  # no crash loop
        assert "exiting" not in worker.log()
    finally:
        worker.stop()


def test_a_read_only_database_is_reported_degraded_and_the_readings_wait(
        services: Services, own_broker: str, own_database: str, tmp_path: Path) -> None:
    name = psycopg.conninfo.conninfo_to_dict(own_database)["dbname"]
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID,
                          STALL_SECONDS="5")
    try:
        run = uid()
        now = datetime.now(UTC).replace(microsecond=0)
        publish(own_broker, [{"meterId": f"MW{run}", "kwhConsumedAc": 0.1, "voltage": 230.0,
                              "timestamp": (now - timedelta(minutes=5)).isoformat()}])
        wait_until(lambda: query(own_database, "SELECT 1 FROM meter_history WHERE meter_id "
                                 "= %s", (f"MW{run}",)), what="the first reading")
        with psycopg.connect(services.dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        publish(own_broker, [{"meterId": f"MW{run}", "kwhConsumedAc": 0.2, "voltage": 230.0,
                              "timestamp": (now - timedelta(minutes=4)).isoformat()}])

        def degraded() -> dict[str, Any] | None:
            status, body = readiness(worker.direct_url)
            return body if status == 503 and body["status"] == "degraded" else None

        body = wait_until(degraded, timeout=30, what="/readyz to say degraded")
        assert body["failed"] == ["writes"]
        assert "read-only" in body["checks"]["writes"]
        wait_until(lambda: "energy_writes_degraded{agent=\"meter_writer\"} 1.0" in
                   urllib.request.urlopen(f"{worker.direct_url}/metrics").read().decode(),
                   what="the degraded metric")
        # longer than STALL_SECONDS: a known condition is not a stall, restarting is no cure
        time.sleep(8)
        assert worker.proc.poll() is None, worker.log()[-3000:]
        with psycopg.connect(services.dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        wait_until(lambda: query(own_database, "SELECT count(*) FROM meter_history WHERE "
                                 "meter_id = %s", (f"MW{run}",)) == [(2,)], timeout=60,
                   what="the waiting reading written once the database takes writes")
        wait_until(lambda: readiness(worker.direct_url)[0] == 200, what="/readyz ready again")
    finally:
        worker.stop()


def test_the_worker_refuses_readings_older_than_its_min_reading_time(
        services: Services, own_broker: str, own_database: str, tmp_path: Path) -> None:
    """MIN_READING_TIME reaches the router (processor/stream/router.py), not only the gateway."""
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID,
                          MIN_READING_TIME="2020-01-01T00:00:00Z")
    try:
        run = uid()
        publish(own_broker, [{"meterId": f"MT{run}", "kwhConsumedAc": 0.1, "voltage": 230.0,
                              "timestamp": ts} for ts in ("2015-06-01T00:00:00Z",
                                                          "2021-06-01T00:00:00Z")])
        wait_until(lambda: query(own_database, "SELECT ts::text FROM meter_history WHERE "
                                 "meter_id = %s", (f"MT{run}",)) == [("2021-06-01 00:00:00+00",)],
                   what="the 2021 reading stored")
        [letter] = read_topic(own_broker, "telemetry.dlq", lambda v: f"MT{run}".encode() in v,
                              expected=1, timeout=30)
        assert "MIN_READING_TIME" in letter["reason"]
        assert "2020-01-01" in letter["reason"]
    finally:
        worker.stop()
