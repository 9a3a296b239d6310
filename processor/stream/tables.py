"""The worker's Faust tables, kept from what the writers commit: live state and recent hours.

Faust's own windowed tables need a current event and expire on wall-clock time, which a batch
writer has neither of, so the hourly windows are plain tables: ``"device|hour"`` -> that hour's
rollup totals (``processor/domain/table_entries.py``). Each worker drops the hours older than
``HOURLY_WINDOW_HOURS`` from the partitions it owns, with tombstones, so a recovering worker
drops them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust

from processor.domain.kinds import KINDS
from processor.domain.partitioning import partition_for
from processor.domain.table_entries import expired_keys, key_hour, supersedes, window_start
from processor.kafka.changelog import Changelog
from processor.stream import metrics
from processor.stream.checkpoint import timer_guarded
from processor.stream.pipeline import Pipeline


class ForwardTable(faust.Table):  # type: ignore[misc]
    """A table whose changelog, when read back (a recovery), never takes a key back in time:
    a record replaces the value only where ``supersedes`` says so. The writers set values
    directly (``processor/kafka/changelog.py``); this is the other way values arrive."""

    async def on_changelog_event(self, event: Any) -> None:
        # Faust calls this for every changelog record its consumer reads for the table.
        await super().on_changelog_event(event)
        if not self.app.in_recovery:
            metrics.CHANGELOG_READ_LIVE.labels(self.name).inc()

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        store = self.data
        partitions = getattr(store, "_key_partition", None)  # the memory store's index
        for event in batch:
            key = self._to_key(event.key)
            value = event.value if event.message.value is not None else None
            if value is None:
                store.pop(key, None)
                if partitions is not None:
                    partitions.pop(key, None)
            elif supersedes(value, store.get(key)):
                store[key] = self._to_value(value)
                if partitions is not None:
                    partitions[key] = event.message.partition


def forward_table(app: faust.App, name: str, partitions: int) -> ForwardTable:
    """A plain keyed table of JSON objects by string key (``ForwardTable``)."""
    table = ForwardTable(app, name=name, default=None, partitions=partitions, key_type=str)
    app.tables.add(table)
    return table


def register_window_expiry(p: Pipeline) -> None:
    settings = p.settings
    changelog = Changelog(settings.kafka_bootstrap_servers or "")

    @p.app.timer(interval=300.0)
    @timer_guarded("hourly window expiry")
    async def expire_hourly_windows() -> None:
        before = window_start(settings.hourly_window_hours)
        for name, table in p.hourly.items():
            topic = KINDS[name].topic
            owned = {tp.partition for tp in p.app.assignor.assigned_actives()
                     if tp.topic == topic}
            for key in expired_keys(list(table.data.keys()), before):
                partition = partition_for(key_hour(key)[0], settings.telemetry_partitions)
                if partition in owned:
                    changelog.set(table, partition, key, None)
        await changelog.flush()
