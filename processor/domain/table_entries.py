"""What the Faust tables take from a written batch: (partition, key, value) entries.

The live tables hold each device's latest reading (key: the device id); the hourly tables
hold recent hours' rollup totals (key: ``"device|hour"``). Both mirror what the writer
statement returned (``db/batch_writes.py``): only rows the history really inserted, so a
replayed changelog stays exact. Inside a batch the statement coalesces in SQL (``DISTINCT ON``
per device, ``GROUP BY`` per device-hour: an upsert cannot touch one row twice); here a live
value replaces the table's only when it is newer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from processor.domain.kinds import DeviceKind, Row
from processor.domain.partitioning import partition_for

Entry = tuple[int, str, dict[str, Any]]  # partition, key, value


def newer(candidate_ts: str, current_ts: str | None) -> bool:
    """Whether a reading replaces live state: only a strictly newer timestamp does."""
    return current_ts is None or candidate_ts > current_ts


def supersedes(incoming: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
    """Whether a changelog record's value replaces the table's when the changelog is read (a
    recovery): a tombstone (None) always does; a live value unless its reading is older than
    the table's; an hour's totals unless they count fewer readings (rollups only grow). So a
    record written by someone else after the writer's own (``energy-ingest rebuild`` beside a
    running worker, an old owner's last flush) never takes a table back in time."""
    if incoming is None or current is None:
        return True
    if "ts" in incoming:
        return bool(incoming["ts"] >= current.get("ts", ""))
    return bool(incoming.get("readings", 0) >= current.get("readings", 0))


def live_entries(kind: DeviceKind, rows: Iterable[Row], data: Any,
                 partitions: int) -> Iterator[Entry]:
    """An entry for each returned live row newer than the table's value (``data``): a stale
    row only comes back when a batch restates stored state (``db/batch_writes.py``)."""
    value_of = kind.live_value
    for row in rows:
        key = row[0]
        value = value_of(row)
        current = data.get(key)
        if current is None or newer(value["ts"], current.get("ts")):
            yield partition_for(key, partitions), key, value


def hour_key(device_id: str, hour: datetime) -> str:
    return f"{device_id}|{_hour_text(hour)}"


@lru_cache(maxsize=1024)
def _hour_text(hour: datetime) -> str:
    """``2026-02-10T19:00Z`` (cached: a batch holds a few hours of many devices)."""
    return f"{hour.astimezone(UTC).isoformat()[:13]}:00Z"  # strftime is slower


def key_hour(key: str) -> tuple[str, datetime]:
    device_id, _, hour = key.rpartition("|")
    return device_id, datetime.strptime(hour, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)


def window_start(hours: int) -> datetime:
    """The oldest hour the window tables keep (older ones are expired)."""
    return datetime.now(UTC) - timedelta(hours=hours)


def hour_entries(kind: DeviceKind, rows: Iterable[Row], data: Any, partitions: int,
                 restated_since: datetime | None = None) -> Iterator[Entry]:
    """An entry setting each device-hour to its new totals. Restated rows (the stored rollups
    of a batch that held stored readings) only from ``restated_since`` on, and only where the
    table's value (``data``) differs."""
    value_of = kind.hour_value
    for row in rows:
        if restated_since is not None and row[1] < restated_since:
            continue
        key, value = hour_key(row[0], row[1]), value_of(row)
        if restated_since is not None and data.get(key) == value:
            continue
        yield partition_for(row[0], partitions), key, value


def expired_keys(keys: Iterable[str], before: datetime) -> list[str]:
    return [k for k in keys if key_hour(k)[1] < before]
