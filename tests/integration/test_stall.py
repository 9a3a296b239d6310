"""A stalled agent is seen: /readyz names it, the log says so, and the worker exits for
redelivery; a restarted worker then writes what the stalled one held."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg
import pytest

from processor.stream.checkpoint import EXIT_REDELIVER
from tests.conftest import APP_ID, PARTITIONS
from tests.helpers import http_json, publish, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration


def stored(dsn: str, meter: str) -> int:
    return int(query(dsn, "SELECT count(*) FROM meter_history WHERE meter_id = %s",
                     (meter,))[0][0])


def test_a_writer_stuck_on_a_lock_is_reported_and_the_worker_exits_for_redelivery(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    run = uid()
    meter = f"MS{run}"
    reading = {"meterId": meter, "kwhConsumedAc": 1.0, "voltage": 230.0,
               "timestamp": "2026-01-04T00:00:00Z"}
    env = {"TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID, "STALL_SECONDS": "3"}
    worker = start_worker(own_broker, own_database, tmp_path, **env)
    try:
        publish(own_broker, [reading])  # a first batch: the writer is known to work
        wait_until(lambda: query(own_database, "SELECT 1 FROM meter_history WHERE "
                                 "meter_id = %s", (meter,)), what="the first reading")
        time.sleep(4)  # idle for longer than STALL_SECONDS with nothing waiting: not stalled
        status, body = http_json(f"{worker.url}/readyz")
        assert status == 200, body

        with psycopg.connect(own_database) as blocker:
            # Another session holds the history table: the writer's insert waits forever.
            blocker.execute("LOCK TABLE meter_history IN ACCESS EXCLUSIVE MODE")
            publish(own_broker, [{**reading, "timestamp": "2026-01-04T00:01:00Z"}])

            def not_ready() -> dict[str, object] | None:
                status, body = http_json(f"{worker.url}/readyz")
                return body if status == 503 and "agents" in body.get("failed", []) else None

            body = wait_until(not_ready, timeout=30, interval=0.1,
                              what="/readyz to report the stalled writer")
            assert "meter_writer has made no progress" in body["checks"]["agents"]
            assert "telemetry.meter" in body["checks"]["agents"]
            assert body["checks"]["database"] == "ok"  # the database answers; the writer hangs
            code = worker.proc.wait(30)
            blocker.rollback()
        assert code == EXIT_REDELIVER
        worker.stop()  # its gateway too: the restarts below start none
        log = worker.log()
        assert "stalled: agent meter_writer has made no progress" in log
        assert re.search(r"telemetry\.meter's partitions: p0: committed .*, handed over .*, "
                         r"fetch position .*, (fetched|not fetched|paused|buffer full)", log)
        assert "exiting so the unacked input is redelivered" in log

        # Restarted as `up` would (several times if need be), a worker takes the unacked batch
        # again and writes it. A restarted worker has been seen, about one run in four of the
        # whole suite, to skip a partition's only unacked record until its own stall watchdog
        # restarts it (a race in Faust's resume after a rebalance, see docs/architecture.md),
        # up to three restarts in a row: the watchdog is what brings the reading in then. The
        # log of a stall names each partition's offsets and whether it is fetched.
        restarts = 0
        while True:
            worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                                  **{**env, "STALL_SECONDS": "10"})
            wait_until(lambda w=worker: stored(own_database, meter) == 2
                       or w.proc.poll() is not None,
                       timeout=60, what="the stalled reading, redelivered")
            if stored(own_database, meter) == 2:
                break
            assert worker.proc.wait(5) == EXIT_REDELIVER, worker.log()[-3000:]
            restarts += 1
            assert restarts < 6, worker.log()[-3000:]
    finally:
        worker.stop()


def test_a_burst_after_a_long_idle_spell_is_work_not_a_stall(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    """The suite's "stalls", made to happen: a writer idle for longer than STALL_SECONDS is
    handed a burst while its first batch waits on a lock for a few seconds (a busy or locked
    database, a loaded machine). The watchdog saw records waiting for an agent idle for long
    and ended a healthy worker; now records must have waited STALL_SECONDS with no progress."""
    run = uid()
    env = {"TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID, "STALL_SECONDS": "6"}
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False, **env)
    try:
        publish(own_broker, [{"meterId": f"MB{run}-first", "kwhConsumedAc": 1.0,
                              "voltage": 230.0, "timestamp": "2026-01-04T00:00:00Z"}])
        wait_until(lambda: stored(own_database, f"MB{run}-first") == 1, what="a first reading")
        time.sleep(8)  # idle past STALL_SECONDS
        burst = [{"meterId": f"MB{run}-{i % 5}", "kwhConsumedAc": 1.0, "voltage": 230.0,
                  "timestamp": f"2026-01-04T01:{i // 5:02d}:00Z"} for i in range(150)]
        with psycopg.connect(own_database) as conn:
            conn.execute("LOCK TABLE meter_live IN ACCESS EXCLUSIVE MODE")
            publish(own_broker, [burst])
            time.sleep(4)  # the first batch waits, shorter than STALL_SECONDS
        wait_until(lambda: query(own_database, "SELECT count(*) FROM meter_history WHERE "
                                 "meter_id LIKE %s", (f"MB{run}-%",))[0][0] == 151,
                   what="the burst stored")
        time.sleep(8)  # past the watchdog's grace, had it judged a stall
        assert worker.proc.poll() is None, worker.log()[-3000:]
        assert "stalled" not in worker.log()
    finally:
        worker.stop()
