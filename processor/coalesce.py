"""Coalescing inside a batch: live state changes once per device, rollups once per device-hour.

An upsert cannot touch one row twice in a statement, and a Faust table write costs far more than
the comparison that avoids it, so both are reduced to one entry per key first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Row = tuple[Any, ...]


def latest_per_device(rows: Iterable[Row]) -> dict[str, Row]:
    """Newest row per device id (field 0), by timestamp (field 1, canonical ISO-8601 UTC)."""
    latest: dict[str, Row] = {}
    for row in rows:
        current = latest.get(row[0])
        if current is None or row[1] > current[1]:
            latest[row[0]] = row
    return latest


def newer(candidate_ts: str, current_ts: str | None) -> bool:
    """Whether a reading replaces live state: only a strictly newer timestamp does."""
    return current_ts is None or candidate_ts > current_ts
