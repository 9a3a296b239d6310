"""Coalescing: live state changes only for a newer reading.

Inside a batch the writer statement coalesces in SQL (``DISTINCT ON`` per device for live state,
``GROUP BY`` per device-hour for rollups: an upsert cannot touch one row twice); the Faust live
table then takes a device's value only when it is newer than what the table holds.
"""

from __future__ import annotations


def newer(candidate_ts: str, current_ts: str | None) -> bool:
    """Whether a reading replaces live state: only a strictly newer timestamp does."""
    return current_ts is None or candidate_ts > current_ts
