"""The writer's statement on the real PostgreSQL: the cheaper insert for new readings, and the
second, conflict-handling write of a batch that holds stored ones."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from db.batch_writes import connect, write_copy
from processor.domain.kinds import METER
from processor.stream import metrics
from processor.stream.writers import BatchSink
from tests.helpers import query

pytestmark = pytest.mark.integration


def rows(meter: str, minutes: range) -> list[tuple[Any, ...]]:
    return [(meter, f"2026-06-15T10:{m:02d}:00+00:00", 0.5, 230.0) for m in minutes]


def totals(dsn: str, meter: str) -> tuple[Any, ...]:
    history = query(dsn, "SELECT count(*), sum(kwh_consumed_ac) FROM meter_history "
                         "WHERE meter_id = %s", (meter,))[0]
    hourly = query(dsn, "SELECT sum(readings), sum(kwh_consumed_ac) FROM meter_hourly "
                        "WHERE meter_id = %s", (meter,))[0]
    live = query(dsn, "SELECT ts FROM meter_live WHERE meter_id = %s", (meter,))
    return (*history, *hourly, live[0][0].minute if live else None)


def test_expecting_new_readings_a_stored_one_fails_the_batch_and_changes_nothing(
        own_database: str) -> None:
    dsn = own_database

    async def scenario() -> None:
        conn = await connect(dsn)
        try:
            first = await write_copy(conn, "meter", METER.encode_rows(rows("m-1", range(0, 3))),
                                     expect_new=True)
            assert (first.inserted, len(first.live_changed), len(first.hourly)) == (3, 1, 1)
            with pytest.raises(psycopg.errors.UniqueViolation):
                await write_copy(conn, "meter", METER.encode_rows(rows("m-1", range(2, 6))),
                                     expect_new=True)
            # The connection is usable again and the same batch goes in skipping the stored one.
            again = await write_copy(conn, "meter", METER.encode_rows(rows("m-1", range(2, 6))))
            assert (again.inserted, again.duplicates) == (3, 1)
        finally:
            await conn.close()

    asyncio.run(scenario())
    assert totals(dsn, "m-1") == (6, 3.0, 6, 3.0, 5)


def test_the_sink_writes_a_redelivered_batch_exactly_and_stays_careful(
        own_database: str) -> None:
    dsn = own_database
    before = metrics.CAREFUL_WRITES.labels("meter")._value.get()

    async def scenario() -> list[tuple[int, int]]:
        sink = BatchSink(dsn, max_backoff=1.0)
        out = []
        try:
            for batch in (range(0, 4), range(2, 8), range(8, 10)):
                result = await sink.write("meter", METER.encode_rows(rows("m-2", batch)))
                out.append((result.inserted, result.duplicates))
            assert sink.careful_until > 0  # the third batch was written the careful way
        finally:
            await sink._close()
        return out

    assert asyncio.run(scenario()) == [(4, 0), (4, 2), (2, 0)]
    assert totals(dsn, "m-2") == (10, 5.0, 10, 5.0, 9)
    assert metrics.CAREFUL_WRITES.labels("meter")._value.get() == before + 1


def test_a_batch_holding_stored_readings_restates_their_live_rows_and_rollups(
        own_database: str) -> None:
    """A redelivered batch inserts nothing, yet the writer's tables may lack what its first
    delivery committed (a worker stopped before the changelog): it gets the stored state."""
    dsn = own_database

    async def scenario() -> None:
        sink = BatchSink(dsn, max_backoff=1.0)
        try:
            first = await sink.write("meter", METER.encode_rows(rows("m-3", range(0, 3))))
            assert [r[0] for r in first.live_changed] == ["m-3"]
            again = await sink.write("meter", METER.encode_rows(rows("m-3", range(0, 3))))
            assert (again.inserted, again.duplicates) == (0, 3)
            (live,) = again.live_changed
            assert (live[0], live[1].minute, live[2], live[3]) == ("m-3", 2, 0.5, 230.0)
            (hour,) = again.hourly
            assert (hour[0], hour[1].hour, hour[2], hour[3]) == ("m-3", 10, 1.5, 3)
            # Partly new: the state after this batch, not only what it changed.
            more = await sink.write("meter", METER.encode_rows(rows("m-3", range(1, 5))))
            assert (more.inserted, more.duplicates) == (2, 2)
            assert [(r[0], r[1].minute) for r in more.live_changed] == [("m-3", 4)]
            assert [(r[0], r[2], r[3]) for r in more.hourly] == [("m-3", 2.5, 5)]
        finally:
            await sink._close()

    asyncio.run(scenario())
    assert totals(dsn, "m-3") == (5, 2.5, 5, 2.5, 4)


def test_device_id_columns_compare_bytes_in_every_table_and_partition(services: Any) -> None:
    """Migration 0005: ids are ASCII, so their comparisons (indexes, the writers' grouping) skip
    the database's linguistic collation, partitions included (created after it or before)."""
    columns = query(services.dsn, """
        SELECT c.table_name, c.column_name, c.collation_name
        FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_schema, table_name)
        WHERE c.table_schema = 'public' AND t.table_type IN ('BASE TABLE', 'PARTITIONED TABLE')
          AND c.column_name IN ('meter_id', 'vehicle_id')""")
    tables = {table for table, _, _ in columns}
    assert {"meter_history", "vehicle_history", "meter_live", "vehicle_live", "meter_hourly",
            "vehicle_hourly", "vehicle_meter_link", "efficiency_alert_state",
            "efficiency_alert_events", "meter_history_default"} <= tables
    assert any(table.startswith("vehicle_history_p") for table in tables)  # a daily partition
    assert [c for c in columns if c[2] != "C"] == []
