"""Retention and partitions ahead, on the real PostgreSQL.

Each test gets a database of its own on the session's server: retention drops partitions and
moves a horizon that must never move back, which other tests sharing a database would feel.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from db.batch_writes import WriteResult, connect, write_copy
from db.partitions import maintain_partitions, partition_name
from processor.domain.kinds import METER
from processor.kafka.topics import ensure_topics
from processor.ops.embedded import EmbeddedBroker
from tests.conftest import Services
from tests.helpers import ROOT, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 15)  # fixed, so that the partitions' names are known in advance


@pytest.fixture
def dsn(own_database: str) -> str:
    return own_database


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def days_ago(n: int, today: date = TODAY) -> date:
    return today - timedelta(days=n)


def ensure_day(dsn: str, table: str, day: date) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT energy_ensure_day_partition(%s, %s)", (table, day)).fetchone()
    return bool(row and row[0])


def insert_meters(dsn: str, rows: list[tuple[str, datetime]]) -> None:
    with psycopg.connect(dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO meter_history (meter_id, ts, kwh_consumed_ac, voltage) "
            "VALUES (%s, %s, 0.5, 230)", rows)


def insert_vehicles(dsn: str, rows: list[tuple[str, datetime]]) -> None:
    with psycopg.connect(dsn) as conn:
        conn.cursor().executemany(
            "INSERT INTO vehicle_history (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp) "
            "VALUES (%s, %s, 50, 0.4, 25)", rows)


def daily_partitions(dsn: str, table: str) -> set[str]:
    rows = query(dsn, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                 "WHERE i.inhparent = %s::regclass", (table,))
    return {r[0] for r in rows} - {f"{table}_default"}


def rows_where(dsn: str, table: str) -> set[tuple[str, str, datetime]]:
    """(partition, device, ts) of every row of ``table``."""
    id_col = "meter_id" if table == "meter_history" else "vehicle_id"
    return set(query(dsn, f"SELECT tableoid::regclass::text, {id_col}, ts FROM {table}"))


def test_old_partitions_are_dropped_recent_kept_and_future_created(dsn: str) -> None:
    kept_days = [days_ago(30), days_ago(29), days_ago(1)]  # day 30 ends after the horizon
    old_days = [days_ago(40), days_ago(35), days_ago(31)]
    # migrate made the partition of the real today: recent, so kept
    before = {t: daily_partitions(dsn, t) for t in ("meter_history", "vehicle_history")}
    for table in ("meter_history", "vehicle_history"):
        for day in old_days + kept_days:
            assert ensure_day(dsn, table, day)
    readings = [(f"m-{day:%m%d}", at(day)) for day in old_days + kept_days]
    # Days without a partition of their own live in the default partition: the old ones go,
    # a recent one and one far ahead stay.
    old_in_default = [("m-default-old", at(days_ago(45))),
                      ("m-default-edge", at(days_ago(32), 23))]
    new_in_default = [("m-default-new", at(days_ago(20))),
                      ("m-default-future", at(TODAY + timedelta(days=60)))]
    insert_meters(dsn, readings + old_in_default + new_in_default)
    insert_vehicles(dsn, [(f"v-{day:%m%d}", at(day)) for day in old_days + kept_days])

    report = maintain_partitions(dsn, ahead_days=3, retention_days=30, today=TODAY)

    future = [TODAY + timedelta(days=n) for n in range(4)]
    assert report.created == [partition_name(t, d) for t in ("meter_history", "vehicle_history")
                              for d in future]
    assert report.dropped == [partition_name(t, d) for t in ("meter_history", "vehicle_history")
                              for d in sorted(old_days)]
    assert report.default_rows_deleted == {"meter_history": 2, "vehicle_history": 0}
    horizon = datetime(2026, 5, 16, tzinfo=UTC)  # TODAY - 30 days, midnight UTC
    assert report.kept_from == {"meter_history": horizon, "vehicle_history": horizon}
    for table in ("meter_history", "vehicle_history"):
        assert daily_partitions(dsn, table) == before[table] | {
            partition_name(table, d) for d in kept_days + future}

    # Rows in kept partitions are intact, where they were; old rows are gone everywhere.
    assert rows_where(dsn, "meter_history") == (
        {(partition_name("meter_history", d), f"m-{d:%m%d}", at(d)) for d in kept_days}
        | {("meter_history_default", m, ts) for m, ts in new_in_default})
    assert rows_where(dsn, "vehicle_history") == {
        (partition_name("vehicle_history", d), f"v-{d:%m%d}", at(d)) for d in kept_days}

    # Running it again changes nothing.
    again = maintain_partitions(dsn, ahead_days=3, retention_days=30, today=TODAY)
    assert (again.created, again.dropped, again.changed) == ([], [], False)


def test_a_replay_of_a_dropped_day_is_not_counted_again(dsn: str) -> None:
    old = days_ago(40)
    assert ensure_day(dsn, "meter_history", old)
    row = ("m-replayed", at(old).isoformat(), 1.25, 231.0)

    async def written() -> WriteResult:
        conn = await connect(dsn)
        try:
            return await write_copy(conn, "meter", METER.encode_rows([row]))
        finally:
            await conn.close()

    def write() -> int:
        return asyncio.run(written()).inserted

    assert write() == 1
    maintain_partitions(dsn, ahead_days=0, retention_days=30, today=TODAY)

    # The day is gone; replaying its reading inserts nothing, so the rollup (kept) still
    # counts it once, and no partition comes back for that day. The writer counts it as
    # expired, not as a duplicate: nothing is stored for it.
    again = asyncio.run(written())
    assert (again.inserted, again.expired, again.duplicates) == (0, 1, 0)
    assert query(dsn, "SELECT count(*) FROM meter_history WHERE meter_id = 'm-replayed'") == [(0,)]
    assert query(dsn, "SELECT kwh_consumed_ac, readings FROM meter_hourly "
                 "WHERE meter_id = 'm-replayed'") == [(1.25, 1)]
    assert not ensure_day(dsn, "meter_history", old)
    assert partition_name("meter_history", old) not in daily_partitions(dsn, "meter_history")

    # Switching retention off (or lengthening it) does not bring the dropped days back.
    report = maintain_partitions(dsn, ahead_days=0, retention_days=0, today=TODAY)
    assert report.dropped == [] and report.kept_from["meter_history"] == at(days_ago(30), 0)
    assert write() == 0


def test_retention_off_keeps_everything(dsn: str) -> None:
    old = days_ago(400)
    assert ensure_day(dsn, "meter_history", old)
    insert_meters(dsn, [("m-ancient", at(old)), ("m-ancient-default", at(days_ago(500)))])

    report = maintain_partitions(dsn, ahead_days=1, retention_days=0, today=TODAY)

    assert report.dropped == [] and report.kept_from == {}
    assert report.created == [partition_name(t, d) for t in ("meter_history", "vehicle_history")
                              for d in (TODAY, TODAY + timedelta(days=1))]
    assert query(dsn, "SELECT count(*) FROM meter_history WHERE meter_id LIKE 'm-ancient%'") \
        == [(2,)]


def test_partitions_command_prints_what_it_created_and_dropped(dsn: str) -> None:
    today = datetime.now(UTC).date()
    old = today - timedelta(days=12)
    assert ensure_day(dsn, "vehicle_history", old)
    env = {**os.environ, "DATABASE_URL": dsn, "RETENTION_DAYS": "10",
           "PARTITIONS_AHEAD_DAYS": "2"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "processor.ops.cli", "partitions", *args],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    out = run()
    lines = set(out.splitlines())
    assert f"dropped\t{partition_name('vehicle_history', old)}" in lines
    for n in (1, 2):  # today's partition exists since migrate
        assert f"created\t{partition_name('meter_history', today + timedelta(days=n))}" in lines
    assert "partitions: nothing to create or drop" in run("--retention-days", "10")


def test_the_leader_worker_maintains_partitions_on_a_timer(services: Services, dsn: str) -> None:
    """A worker of its own (own broker, own database): its timer drops an old partition."""
    today = datetime.now(UTC).date()
    old = today - timedelta(days=5)
    assert ensure_day(dsn, "meter_history", old)
    log_dir = services.data_dir / f"retention-{uid()}"
    broker = EmbeddedBroker.start(log_dir)
    try:
        ensure_topics(broker.bootstrap, "energy-ingest-retention", 1)
        worker = start_worker(broker.bootstrap, dsn, log_dir, gateway=False,
                              TELEMETRY_PARTITIONS="1",
                              APP_ID="energy-ingest-retention", RETENTION_DAYS="3",
                              PARTITION_MAINTENANCE_SECONDS="1", PARTITIONS_AHEAD_DAYS="1")
        try:
            def dropped() -> Any:
                return partition_name("meter_history", old) not in daily_partitions(
                    dsn, "meter_history")

            wait_until(dropped, timeout=45, what="the worker's timer to drop the old partition")
            assert query(dsn, "SELECT table_name, kept_from FROM history_retention "
                         "ORDER BY 1") == [
                (t, at(today - timedelta(days=3), 0)) for t in ("meter_history",
                                                                 "vehicle_history")]
        finally:
            worker.stop()
    finally:
        broker.stop()
