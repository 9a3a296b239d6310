"""Recovery and reliability on the real broker and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from processor.domain.partitioning import partition_for
from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import ROOT, Worker, ask, publish, query, start_worker, uid, wait_until
from tests.integration.recovery_support import (
    assert_exact,
    batches,
    history_count,
    snapshot,
    stream,
)

pytestmark = pytest.mark.integration


def worker_on(bootstrap: str, services: Services, log_dir: Path, **env: str) -> Worker:
    return start_worker(bootstrap, services.dsn, log_dir, gateway=False,
                        TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID, **env)


def cli(services: Services, bootstrap: str, *args: str,
        dsn: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "DATABASE_URL": dsn or services.dsn,
           "TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID}
    return subprocess.run([sys.executable, "-m", "processor.ops.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def summary(output: str) -> dict[str, int]:
    line = [ln for ln in output.splitlines() if "replay: done" in ln][-1]
    pattern = (r"read (\d+) messages, (\d+) valid readings: inserted (\d+), "
               r"already present (\d+), conflicting (\d+), rejected (\d+)")
    match = re.search(pattern, line)
    assert match, line
    keys = ("read", "readings", "inserted", "already_present", "conflicting", "rejected")
    return dict(zip(keys, map(int, match.groups()), strict=True))


def test_replay_inserts_only_what_is_missing(services: Services, own_broker: str,
                                             tmp_path: Path) -> None:
    run = uid()
    readings = stream(run, devices=4, minutes=20)
    worker = worker_on(own_broker, services, tmp_path)  # its topics hold only this test's data
    start = datetime.now(UTC) - timedelta(seconds=1)
    publish(own_broker, readings[:80])  # single-reading messages
    publish(own_broker, batches(readings[80:], 40))  # and batches
    messages = 80 + len(batches(readings[80:], 40))
    wait_until(lambda: history_count(services.dsn, run) == len(readings), what="first pass")
    worker.stop()
    before = snapshot(services.dsn, run)

    result = cli(services, own_broker, "replay", "--from", start.isoformat())
    assert result.returncode == 0, result.stderr
    assert summary(result.stderr) == {"read": messages, "readings": len(readings),
                                      "inserted": 0, "already_present": len(readings),
                                      "conflicting": 0, "rejected": 0}
    assert snapshot(services.dsn, run) == before

    def lose_half() -> dict[str, int]:
        """Delete half the devices' rows everywhere; history rows lost, by kind."""
        lost: dict[str, int] = {}
        for kind in ("meter", "vehicle"):
            pattern = f"{kind[0].upper()}{run}-[01]"
            for table in (f"{kind}_history", f"{kind}_live", f"{kind}_hourly"):
                n = query(services.dsn, f"WITH d AS (DELETE FROM {table} WHERE {kind}_id ~ %s "
                                        "RETURNING 1) SELECT count(*) FROM d", (pattern,))[0][0]
                lost.setdefault(kind, n)  # history first
        return lost

    # Lose half the devices' rows everywhere, then replay: the database is whole again.
    lost = lose_half()
    assert sum(lost.values()) == len(readings) // 2
    result = cli(services, own_broker, "replay", "--from", start.isoformat(),
                 "--to", datetime.now(UTC).isoformat())
    assert result.returncode == 0, result.stderr
    assert summary(result.stderr)["inserted"] == sum(lost.values())
    assert snapshot(services.dsn, run) == before

    # The routed topics replay the same way (their batches are COPY rows already), and a batch
    # an older router left there as COPY text still goes in.
    legacy = f"L{run}"
    at = datetime.fromisoformat(readings[0]["timestamp"]).isoformat(timespec="microseconds")
    publish(own_broker, [f"{legacy}\t{at}\t0.5\t230.0\n".encode()], topic="telemetry.meter")
    lost = lose_half()
    for kind in ("meter", "vehicle"):
        result = cli(services, own_broker, "replay", "--from", start.isoformat(),
                     "--topic", f"telemetry.{kind}")
        assert result.returncode == 0, result.stderr
        counts = summary(result.stderr)
        extra = 1 if kind == "meter" else 0
        assert (counts["readings"], counts["inserted"], counts["rejected"]) == \
            (len(readings) // 2 + extra, lost[kind] + extra, 0)
    assert snapshot(services.dsn, run) == before
    assert query(services.dsn, "SELECT kwh_consumed_ac, voltage FROM meter_live "
                               "WHERE meter_id = %s", (legacy,)) == [(0.5, 230.0)]


def derived_rows(dsn: str) -> dict[str, list[tuple[object, ...]]]:
    """Every live row and rollup (the state ``rebuild`` recomputes), in a stable order."""
    cols = {"meter_live": "meter_id, ts, kwh_consumed_ac, voltage",
            "vehicle_live": "vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id",
            "meter_hourly": "meter_id, hour, round(kwh_consumed_ac::numeric, 6), readings",
            "vehicle_hourly": "vehicle_id, hour, round(kwh_delivered_dc::numeric, 6), "
                              "round(battery_temp_sum::numeric, 4), battery_temp_count, "
                              "readings"}
    return {t: query(dsn, f"SELECT {c} FROM {t} ORDER BY 1, 2") for t, c in cols.items()}


def test_rebuild_recomputes_live_state_and_rollups_and_refuses_beside_workers(
        services: Services, own_broker: str, own_database: str, tmp_path: Path) -> None:
    run = uid()
    readings = stream(run, devices=3, minutes=90)
    random.Random(3).shuffle(readings)
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    try:
        publish(own_broker, batches(readings, 50))
        wait_until(lambda: history_count(own_database, run) == len(readings), what="readings")
        refused = cli(services, own_broker, "rebuild", dsn=own_database)
        assert refused.returncode == 1
        assert "1 worker(s) of energy-ingest-test are running (energy-ingest worker pid " \
            f"{worker.proc.pid} " in refused.stderr
        assert "Stop them first" in refused.stderr
    finally:
        assert worker.stop() == 0
    before = derived_rows(own_database)
    assert len(before["vehicle_hourly"]) > 0
    for table in before:
        query(own_database, f"DELETE FROM {table} RETURNING 1")
    assert all(not rows for rows in derived_rows(own_database).values())

    result = cli(services, own_broker, "rebuild", dsn=own_database)
    assert result.returncode == 0, result.stderr
    assert derived_rows(own_database) == before
    assert f"energy-ingest-test-vehicle_live-changelog: {len(before['vehicle_live'])} records" \
        in result.stderr


def test_changelogs_written_beside_a_feeding_worker_stall_nothing_and_take_nothing_back(
        services: Services, own_broker: str, own_database: str, tmp_path: Path) -> None:
    """What ``rebuild`` does to a running worker's topics, done again and again while it is
    fed: the worker's tables' changelogs are written from outside (the worker does not read
    them in normal operation), and nothing stalls, nothing is lost, and the live tables
    never go back to an older reading than the one PostgreSQL holds."""
    from processor.ops.rebuild import refill_changelogs

    run = uid()
    readings = stream(run, devices=10, minutes=60)
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID,
                          STALL_SECONDS="10")
    try:
        for chunk in batches(readings, 60):  # a minute of the fleet at a time
            publish(own_broker, [chunk])
            refill_changelogs(own_database, own_broker, APP_ID, PARTITIONS,
                              out=open(os.devnull, "w"))  # noqa: SIM115
        wait_until(lambda: history_count(own_database, run) == len(readings), timeout=60,
                   what="every reading written beside the changelog writes")
        assert_exact(own_database, run, readings)
        vehicles = sorted({r["vehicleId"] for r in readings if "vehicleId" in r})

        def tables_match_postgresql() -> bool:
            for vehicle in vehicles:
                status, body, source = ask(f"{worker.direct_url}/v1/vehicles/{vehicle}/live")
                stored = query(own_database, "SELECT ts FROM vehicle_live WHERE vehicle_id = %s",
                               (vehicle,))[0][0]
                if (status, source) != (200, "table") or \
                        datetime.fromisoformat(body["timestamp"]) != stored:
                    return False
            return True

        wait_until(tables_match_postgresql, timeout=20,
                   what="every vehicle's live table value equal to PostgreSQL's")
        assert worker.proc.poll() is None
        assert "stalled" not in worker.log()
        metrics = urllib.request.urlopen(f"{worker.direct_url}/metrics").read().decode()
        assert "energy_changelog_records_read_outside_recovery_total" not in metrics or \
            all(line.endswith(" 0.0") for line in metrics.splitlines() if line.startswith(
                "energy_changelog_records_read_outside_recovery_total{"))
    finally:
        worker.stop()


def test_kill_9_mid_stream_loses_and_doubles_nothing(services: Services, own_broker: str,
                                                    tmp_path: Path) -> None:
    run = uid()
    readings = stream(run, devices=20, minutes=150)  # 6,000 single-reading messages
    first = worker_on(own_broker, services, tmp_path)
    # Published in chunks while the worker runs, so the kill lands mid-stream.
    feeder = threading.Thread(target=lambda: [
        (publish(own_broker, chunk), time.sleep(0.2)) for chunk in batches(readings, 300)])
    feeder.start()
    wait_until(lambda: history_count(services.dsn, run) > 0, what="some readings written")
    first.stop(signal.SIGKILL)
    assert history_count(services.dsn, run) < len(readings), "killed too late to prove much"

    second = worker_on(own_broker, services, tmp_path)
    try:
        feeder.join(120)
        try:
            wait_until(lambda: history_count(services.dsn, run) == len(readings), timeout=120,
                       what="every reading after the restart")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{kill_diagnosis(services.dsn, own_broker, run, readings)}"
                                 f"\n--- restarted worker's log ---\n{second.log()[-4000:]}"
                                 ) from None
        assert_exact(services.dsn, run, readings)
        # And the group's commits on telemetry.raw reach the end of every partition: a commit
        # left behind (Faust's seek race, see processor/stream/faust_fixes.py) means a later restart
        # would redo everything after it.
        published = Counter(partition_for(str(r.get("vehicleId") or r["meterId"]), PARTITIONS)
                            for r in readings)
        wait_until(lambda: committed_offsets(own_broker, "telemetry.raw") == published,
                   timeout=30, what=f"raw commits at the partition ends {dict(published)}")
    finally:
        second.stop()


def kill_diagnosis(dsn: str, bootstrap: str, run: str, readings: list[dict[str, object]]) -> str:
    """When the kill -9 test fails: which readings are missing, where they live, and how far
    the consumer group committed on each partition."""
    have = {(r[0], r[1].isoformat()) for r in query(
        dsn, "SELECT meter_id, ts FROM meter_history WHERE meter_id LIKE %s "
             "UNION ALL SELECT vehicle_id, ts FROM vehicle_history WHERE vehicle_id LIKE %s",
        (f"M{run}-%", f"V{run}-%"))}
    missing = []
    for r in readings:
        device = str(r.get("vehicleId") or r["meterId"])
        ts = datetime.fromisoformat(str(r["timestamp"])).isoformat()
        if (device, ts) not in have:
            missing.append(f"{device} {ts} partition {partition_for(device, PARTITIONS)}")
    lines = [f"missing {len(missing)}: {missing[:10]}"]
    for topic in ("telemetry.raw", "telemetry.meter", "telemetry.vehicle"):
        lines.append(f"{topic} committed {committed_offsets(bootstrap, topic)}")
    return "\n".join(lines)


def committed_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The test group's committed offset per partition (partitions without one left out)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": APP_ID})
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(parts, timeout=10)
                if tp.offset >= 0}
    finally:
        consumer.close()


def test_database_outage_waits_retries_and_resumes(services: Services, own_broker: str,
                                                   tmp_path: Path) -> None:
    import pgserver

    from db.migrate import migrate
    from processor.ops.embedded import EmbeddedPostgres

    # a database of its own, to stop and start (outside pytest's folder: see conftest.py)
    pg = EmbeddedPostgres.start(Path(tempfile.mkdtemp(prefix="energy-test-outage-")))
    migrate(pg.dsn, 1, 1)
    run = uid()
    readings = stream(run, devices=10, minutes=60)
    own = Services(own_broker, pg.dsn, tmp_path)
    worker = worker_on(own_broker, own, tmp_path)
    try:
        feeder = threading.Thread(target=lambda: [
            (publish(own_broker, chunk), time.sleep(0.5)) for chunk in batches(readings, 40)])
        feeder.start()
        wait_until(lambda: history_count(pg.dsn, run) > 100, what="readings before the outage")
        server = pg.server
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata,  # type: ignore
                        user=server.system_user)  # type: ignore[attr-defined]
        time.sleep(12)
        assert worker.proc.poll() is None, "the worker must wait, not crash"
        server.ensure_postgres_running()  # type: ignore[attr-defined]
        feeder.join(120)
        wait_until(lambda: history_count(pg.dsn, run) == len(readings), timeout=120,
                   what="every reading after the outage")
        assert_exact(pg.dsn, run, readings)
        log = worker.log()
        assert "database unavailable" in log and "retry" in log
        assert "database reachable again, resuming" in log
        assert worker.proc.poll() is None
    finally:
        worker.stop()
        pg.stop()


def test_sigterm_commits_in_flight_batches(services: Services, own_broker: str,
                                           tmp_path: Path) -> None:
    run = uid()
    readings = stream(run, devices=50, minutes=120)  # 12,000 readings in 240 batches
    first = worker_on(own_broker, services, tmp_path)
    publish(own_broker, batches(readings, 50))
    wait_until(lambda: history_count(services.dsn, run) > 0, what="the first batches")
    assert first.stop(signal.SIGTERM) == 0
    assert "stopped cleanly, in-flight batches committed" in first.log()
    written = history_count(services.dsn, run)

    second = worker_on(own_broker, services, tmp_path)
    try:
        wait_until(lambda: history_count(services.dsn, run) == len(readings), timeout=120,
                   what="the rest after the restart")
        assert_exact(services.dsn, run, readings)
        assert second.stop(signal.SIGTERM) == 0
        # What the first worker wrote was acked and committed: nothing came back twice.
        final = [ln for ln in second.log().splitlines() if "stopped cleanly" in ln][-1]
        assert "(+0 already present), vehicle" in final and final.endswith("(+0 already present)")
        assert written <= len(readings)
    finally:
        second.stop()


def test_two_workers_share_partitions_and_take_over(services: Services, own_broker: str,
                                                    tmp_path: Path) -> None:
    run = uid()
    readings = stream(run, devices=20, minutes=60)
    one = worker_on(own_broker, services, tmp_path)
    two = worker_on(own_broker, services, tmp_path)
    try:
        wait_until(lambda: one.owned_partitions() and two.owned_partitions()
                   and len(one.owned_partitions()) + len(two.owned_partitions())
                   == PARTITIONS, what="both workers to own partitions")
        chunks = batches(readings, 100)
        half = len(chunks) // 2
        publish(own_broker, chunks[:half])
        wait_until(lambda: history_count(services.dsn, run) > 0, what="first half")
        assert one.stop(signal.SIGTERM) == 0
        publish(own_broker, chunks[half:])
        wait_until(lambda: two.owned_partitions() == list(range(PARTITIONS)),
                   what="the survivor to own every partition")
        wait_until(lambda: history_count(services.dsn, run) == len(readings), timeout=120,
                   what="every reading")
        assert_exact(services.dsn, run, readings)
    finally:
        one.stop()
        two.stop()


def test_a_worker_keeps_its_tables_through_others_joining_and_leaving(
        services: Services, own_broker: str, tmp_path: Path) -> None:
    """Scaling up and down: a worker that keeps partitions through rebalances recovers their
    tables each time. The embedded broker reports a partition's end short of its last
    batch's records, so the first recovery read past that "end", and at the next rebalance
    with nothing written meanwhile Faust's consistency check crashed the worker
    (docs/architecture.md). Nothing may be lost or doubled either."""
    run = uid()
    readings = stream(run, devices=12, minutes=30)
    thirds = [readings[i::3] for i in range(3)]
    stays = worker_on(own_broker, services, tmp_path)

    try:
        stored = 0
        for third in thirds:
            # a burst: each writer batch changes many keys, one changelog batch per partition
            publish(own_broker, batches(third, 50))
            stored += len(third)
            wait_until(lambda n=stored: history_count(services.dsn, run) == n
                       or stays.proc.poll() is not None, what="the burst in history")
            assert stays.proc.poll() is None, stays.log()[-3000:]
            joins = worker_on(own_broker, services, tmp_path)
            try:
                wait_until(lambda j=joins: "worker owns partitions" in j.log(),
                           what="the second worker to own partitions")
            finally:
                assert joins.stop(signal.SIGTERM) == 0
            wait_until(lambda: stays.owned_partitions() == list(range(PARTITIONS))
                       or stays.proc.poll() is not None,
                       what="the first worker to take every partition back")
            assert stays.proc.poll() is None, stays.log()[-3000:]
        assert_exact(services.dsn, run, readings)
        assert "ConsistencyError" not in stays.log()
    finally:
        stays.stop()


def test_shuffled_stream_leaves_the_same_state_as_the_ordered_one(services: Services,
                                                                   worker: Worker) -> None:
    ordered_run, shuffled_run = uid(), uid()
    ordered = stream(ordered_run, devices=5, minutes=150, seed=11)
    shuffled = stream(shuffled_run, devices=5, minutes=150, seed=11)
    random.Random(5).shuffle(shuffled)
    publish(services.bootstrap, ordered)
    publish(services.bootstrap, shuffled)
    wait_until(lambda: history_count(services.dsn, ordered_run) == len(ordered)
               and history_count(services.dsn, shuffled_run) == len(shuffled),
               what="both streams")
    assert snapshot(services.dsn, shuffled_run, rename=ordered_run) == \
        snapshot(services.dsn, ordered_run)
    assert_exact(services.dsn, ordered_run, ordered)
