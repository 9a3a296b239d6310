"""Recompute live state and hourly rollups from the history (the durable record)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

REBUILD_SQL = {
    "meter_live": """
        TRUNCATE meter_live;
        INSERT INTO meter_live (meter_id, ts, kwh_consumed_ac, voltage, updated_at)
        SELECT DISTINCT ON (meter_id) meter_id, ts, kwh_consumed_ac, voltage, now()
        FROM meter_history ORDER BY meter_id, ts DESC""",
    "vehicle_live": """
        TRUNCATE vehicle_live;
        INSERT INTO vehicle_live
            (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id, updated_at)
        SELECT DISTINCT ON (vehicle_id)
            vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id, now()
        FROM vehicle_history ORDER BY vehicle_id, ts DESC""",
    "meter_hourly": """
        TRUNCATE meter_hourly;
        INSERT INTO meter_hourly (meter_id, hour, kwh_consumed_ac, readings)
        SELECT meter_id, date_trunc('hour', ts), sum(kwh_consumed_ac), count(*)
        FROM meter_history GROUP BY 1, 2""",
    "vehicle_hourly": """
        TRUNCATE vehicle_hourly;
        INSERT INTO vehicle_hourly
            (vehicle_id, hour, kwh_delivered_dc, battery_temp_sum, battery_temp_count, readings)
        SELECT vehicle_id, date_trunc('hour', ts), sum(kwh_delivered_dc), sum(battery_temp),
               count(battery_temp), count(*)
        FROM vehicle_history GROUP BY 1, 2""",
}

LIVE_ROWS = {
    "meter": "SELECT meter_id, ts, kwh_consumed_ac, voltage FROM meter_live",
    "vehicle": "SELECT vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id "
               "FROM vehicle_live",
}


def rebuild_tables(dsn: str) -> dict[str, int]:
    """Recompute every derived table in one transaction; returns the rows of each."""
    counts = {}
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn, conn.transaction():
        for table, sql in REBUILD_SQL.items():
            conn.execute(sql)  # type: ignore[arg-type]
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore
            counts[table] = int(row[0]) if row else 0
    return counts


def live_rows(dsn: str, kind: str) -> Iterator[tuple[Any, ...]]:
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn, conn.cursor(
            name=f"live_{kind}") as cur:
        cur.execute(LIVE_ROWS[kind])  # type: ignore[arg-type]
        yield from cur
