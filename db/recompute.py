"""Recompute live state and hourly rollups from the history (the durable record)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from processor.domain.kinds import KINDS, DeviceKind

# Each derived table: the statements that recompute it from history kept since %(since)s.
# Live state starts afresh; rollups keep the hours before the retention horizon, whose history
# is gone for good (see db/partitions.py).
REBUILD_SQL: dict[str, tuple[str, ...]] = {
    "meter_live": (
        "TRUNCATE meter_live",
        """INSERT INTO meter_live (meter_id, ts, kwh_consumed_ac, voltage, updated_at)
        SELECT DISTINCT ON (meter_id) meter_id, ts, kwh_consumed_ac, voltage, now()
        FROM meter_history ORDER BY meter_id, ts DESC""",
    ),
    "vehicle_live": (
        "TRUNCATE vehicle_live",
        """INSERT INTO vehicle_live
            (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id, updated_at)
        SELECT DISTINCT ON (vehicle_id)
            vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id, now()
        FROM vehicle_history ORDER BY vehicle_id, ts DESC""",
    ),
    "meter_hourly": (
        "DELETE FROM meter_hourly WHERE hour >= %(since)s",
        """INSERT INTO meter_hourly (meter_id, hour, kwh_consumed_ac, readings)
        SELECT meter_id, date_trunc('hour', ts), sum(kwh_consumed_ac), count(*)
        FROM meter_history WHERE ts >= %(since)s GROUP BY 1, 2""",
    ),
    "vehicle_hourly": (
        "DELETE FROM vehicle_hourly WHERE hour >= %(since)s",
        """INSERT INTO vehicle_hourly
            (vehicle_id, hour, kwh_delivered_dc, battery_temp_sum, battery_temp_count, readings)
        SELECT vehicle_id, date_trunc('hour', ts), sum(kwh_delivered_dc), sum(battery_temp),
               count(battery_temp), count(*)
        FROM vehicle_history WHERE ts >= %(since)s GROUP BY 1, 2""",
    ),
}
HISTORY_OF = {table: kind.history_table for kind in KINDS.values()
              for table in (kind.live_table, kind.hourly_table)}
HORIZON = "SELECT kept_from FROM history_retention WHERE table_name = %s"



def live_rows(kind: DeviceKind) -> str:
    """Every live row, as the writer statement returns them (id, ts, values..., updated_at)."""
    return f"SELECT {', '.join(kind.live_columns)} FROM {kind.live_table}"


def hourly_rows(kind: DeviceKind) -> str:
    """The hours the Faust hourly tables keep, as the writer returns them (id, hour,
    totals...), from the hour given."""
    return (f"SELECT {kind.id_column}, hour, {', '.join(kind.rollup_columns)} "
            f"FROM {kind.hourly_table} WHERE hour >= %s")


def rebuild_tables(dsn: str) -> dict[str, int]:
    """Recompute every derived table in one transaction; returns the rows of each."""
    counts = {}
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn, conn.transaction():
        for table, statements in REBUILD_SQL.items():
            kept = conn.execute(HORIZON, (HISTORY_OF[table],)).fetchone()
            since = kept[0] if kept else datetime(1, 1, 1, tzinfo=UTC)
            for sql in statements:
                params = {"since": since} if "%(since)s" in sql else None
                conn.execute(sql, params)  # type: ignore[arg-type]
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore
            counts[table] = int(row[0]) if row else 0
    return counts


def stream_rows(dsn: str, sql: str, params: Any = None) -> Iterator[tuple[Any, ...]]:
    """Rows of a query through a server-side cursor (tables may be large)."""
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn, conn.cursor(
            name="rebuild") as cur:
        cur.execute(sql, params)  # type: ignore[arg-type]
        yield from cur
