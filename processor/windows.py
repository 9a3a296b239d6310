"""Hourly tumbling windows kept in Faust tables: ``"device|hour"`` -> that hour's totals.

Faust's own windowed tables need a current event and expire on wall-clock time, which a
batch writer has neither of, so the windows are plain tables managed here. Their values are
the rollup rows the writer statement returned after inserting only the rows that history
really inserted; assigning totals (not adding deltas) keeps a replayed changelog exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from processor import topics
from processor.changelog import Changelog
from processor.checkpoint import guarded
from processor.routing import partition_for

if TYPE_CHECKING:
    from processor.app import Pipeline

SOURCE_TOPIC = {"meter": topics.METER, "vehicle": topics.VEHICLE}


def hour_key(device_id: str, hour: datetime) -> str:
    return f"{device_id}|{_hour_text(hour)}"


@lru_cache(maxsize=1024)
def _hour_text(hour: datetime) -> str:
    """``2026-02-10T19:00Z`` (cached: a batch holds a few hours of many devices)."""
    return f"{hour.astimezone(UTC).isoformat()[:13]}:00Z"  # strftime is slower


def key_hour(key: str) -> tuple[str, datetime]:
    device_id, _, hour = key.rpartition("|")
    return device_id, datetime.strptime(hour, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)


def _meter_hour(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"kwhConsumedAc": row[2], "readings": row[3]}


def _vehicle_hour(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"kwhDeliveredDc": row[2], "batteryTempSum": row[3], "batteryTempCount": row[4],
            "readings": row[5]}


# A table value from a rollup row (device, hour, totals...) returned by the writer. Dict
# literals: a batch builds one per device-hour.
HOUR_VALUE = {"meter": _meter_hour, "vehicle": _vehicle_hour}


def hour_value(kind: str, row: tuple[Any, ...]) -> dict[str, Any]:
    return HOUR_VALUE[kind](row)


def window_start(hours: int) -> datetime:
    """The oldest hour the window tables keep (older ones are expired)."""
    return datetime.now(UTC) - timedelta(hours=hours)


def apply_hours(changelog: Changelog, table: Any, kind: str, rows: Iterable[tuple[Any, ...]],
                partitions: int, *, restated_since: datetime | None = None) -> None:
    """Set each device-hour to its new totals (the caller flushes the changelog). Restated rows
    (the stored rollups of a batch that held stored readings) are applied only from
    ``restated_since`` on and only where the table's value differs."""
    changelog.set_many(table, _hour_entries(HOUR_VALUE[kind], rows, table.data, partitions,
                                            restated_since))


def _hour_entries(value_of: Any, rows: Iterable[tuple[Any, ...]], data: Any, partitions: int,
                  restated_since: datetime | None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    for row in rows:
        if restated_since is not None and row[1] < restated_since:
            continue
        key, value = hour_key(row[0], row[1]), value_of(row)
        if restated_since is not None and data.get(key) == value:
            continue
        yield partition_for(row[0], partitions), key, value


def expired_keys(keys: Iterable[str], before: datetime) -> list[str]:
    return [k for k in keys if key_hour(k)[1] < before]


def register_window_expiry(p: Pipeline) -> None:
    """Each worker drops the hours older than ``hourly_window_hours`` from the partitions it
    owns, with tombstones so a recovering worker drops them too."""
    settings = p.settings
    changelog = Changelog(settings.kafka_bootstrap_servers or "")

    @p.app.timer(interval=300.0)
    @guarded("hourly window expiry")
    async def expire_hourly_windows() -> None:
        before = window_start(settings.hourly_window_hours)
        for kind, table in p.hourly.items():
            owned = {tp.partition for tp in p.app.assignor.assigned_actives()
                     if tp.topic == SOURCE_TOPIC[kind]}
            for key in expired_keys(list(table.data.keys()), before):
                partition = partition_for(key_hour(key)[0], settings.telemetry_partitions)
                if partition in owned:
                    changelog.set(table, partition, key, None)
        await changelog.flush()
