"""One device's state as the writers stored it: its live row (the latest reading, and when it
changed) and its hourly rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from processor.domain.kinds import DeviceKind


def live_query(kind: DeviceKind) -> str:
    """One device's live row: its values in the reading's field order, then ts, updated_at."""
    return (f"SELECT {kind.id_column}, {', '.join(kind.value_columns)}, ts, updated_at "
            f"FROM {kind.live_table} WHERE {kind.id_column} = %s")


async def live_row(conn: psycopg.AsyncConnection[Any], kind: DeviceKind,
                   device_id: str) -> tuple[Any, ...] | None:
    cur = await conn.execute(live_query(kind), (device_id,))  # type: ignore[arg-type]
    row = await cur.fetchone()
    return None if row is None else tuple(row)


def hours_query(kind: DeviceKind) -> str:
    """One device's rollup rows in [%s, %s): id, hour, then the rollup columns (the shape
    ``DeviceKind.hour_value`` reads)."""
    return (f"SELECT {kind.id_column}, hour, {', '.join(kind.rollup_columns)} "
            f"FROM {kind.hourly_table} WHERE {kind.id_column} = %s AND hour >= %s AND hour < %s "
            "ORDER BY hour")


async def hour_rows(conn: psycopg.AsyncConnection[Any], kind: DeviceKind, device_id: str,
                    lo: datetime, hi: datetime) -> list[tuple[Any, ...]]:
    cur = await conn.execute(hours_query(kind), (device_id, lo, hi))  # type: ignore[arg-type]
    return [tuple(row) for row in await cur.fetchall()]
