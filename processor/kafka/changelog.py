"""Faust table changes written the fast way: the value in memory at once, the changelog record
through confluent-kafka.

Faust's own ``send_changelog`` goes through aiokafka at ~100 us a record, which made the
changelog the largest cost of a writer (a batch touches one live key per device and one window
key per device-hour). librdkafka produces the same records for a few microseconds each. The
records are what Faust itself would write (JSON key and value, the key's partition, ``None`` as
a tombstone), so Faust recovers the tables from them as usual. The writer awaits ``flush()``
(``processor.kafka.outbox``) before it acks its batch, as it did with Faust's futures.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from processor.kafka.outbox import Outbox
from processor.kafka.producer import produce


class Changelog(Outbox):
    def set(self, table: Any, partition: int, key: str, value: dict[str, Any] | None) -> None:
        """Change ``table[key]`` (None deletes it) and queue its changelog record."""
        self.set_many(table, ((partition, key, value),))

    def set_many(self, table: Any,
                 entries: Iterable[tuple[int, str, dict[str, Any] | None]]) -> None:
        """``set`` for each (partition, key, value) of one table: a writer's batch changes a
        key or two per device, and per key this loop is about half the cost of ``set``."""
        data = table.data
        # the memory store's key -> partition index: Faust drops a revoked partition's keys
        # by it when a rebalance takes the partition away
        index = getattr(data, "_key_partition", {})
        topic = table.changelog_topic.get_topic_name()
        send = self.producer.produce
        queued = 0
        for partition, key, value in entries:
            if value is None:
                data.pop(key, None)
                index.pop(key, None)
                payload = None
            else:
                data[key] = value
                index[key] = partition
                payload = orjson.dumps(value)
            try:  # positional (topic, value, key, partition, on_delivery): keywords cost more
                send(topic, payload, orjson.dumps(key), partition, self.delivery)
            except BufferError:  # the local queue is full: wait for room
                produce(self.producer, topic, payload, orjson.dumps(key), self.delivery,
                        partition)
            queued += 1
        self.pending += queued
