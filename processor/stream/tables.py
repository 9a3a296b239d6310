"""The worker's Faust tables, kept from what the writers commit: live state and recent hours.

Faust's own windowed tables need a current event and expire on wall-clock time, which a batch
writer has neither of, so the hourly windows are plain tables: ``"device|hour"`` -> that hour's
rollup totals (``processor/domain/table_entries.py``). Each worker drops the hours older than
``HOURLY_WINDOW_HOURS`` from the partitions it owns, with tombstones, so a recovering worker
drops them too.
"""

from __future__ import annotations

from processor.domain.kinds import KINDS
from processor.domain.partitioning import partition_for
from processor.domain.table_entries import expired_keys, key_hour, window_start
from processor.kafka.changelog import Changelog
from processor.stream.checkpoint import guarded
from processor.stream.pipeline import Pipeline


def register_window_expiry(p: Pipeline) -> None:
    settings = p.settings
    changelog = Changelog(settings.kafka_bootstrap_servers or "")

    @p.app.timer(interval=300.0)
    @guarded("hourly window expiry")
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
