"""A device's live row: the latest reading the writers stored, and when it changed."""

from __future__ import annotations

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
