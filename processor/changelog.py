"""Faust table changes written the fast way: the value in memory at once, the changelog record
through confluent-kafka.

Faust's own ``send_changelog`` goes through aiokafka at ~100 us a record, which made the
changelog the largest cost of a writer (a batch touches one live key per device and one window
key per device-hour). librdkafka produces the same records for a few microseconds each. The
records are what Faust itself would write (JSON key and value, the key's partition, ``None`` as
a tombstone), so Faust recovers the tables from them as usual. The writer awaits ``flush()``
before it acks its batch, as it did with Faust's futures.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from confluent_kafka import Producer

from producers.kafka import Delivery, produce, producer_config


class ChangelogError(RuntimeError):
    pass


class Changelog:
    def __init__(self, bootstrap: str) -> None:
        self.delivery = Delivery()
        # Delivery reports for failures only: flush() says whether everything was delivered,
        # and a Python callback per acked record cost ~1 us each (a batch of 30,000 readings
        # changes ~20,000 keys).
        self.producer = Producer(producer_config(
            bootstrap, **{"linger.ms": 2, "delivery.report.only.error": True}))
        self.pending = 0  # records produced since the last flush

    def set(self, table: Any, partition: int, key: str, value: dict[str, Any] | None) -> None:
        """Change ``table[key]`` (None deletes it) and queue its changelog record."""
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
        payload = None if value is None else orjson.dumps(value)
        produce(self.producer, table.changelog_topic.get_topic_name(), payload,  # type: ignore
                orjson.dumps(key), self.delivery, partition)
        self.pending += 1

    async def flush(self, timeout: float = 60.0) -> None:
        """Return once every queued record is on the broker; raise if any was not."""
        if self.pending:
            remaining = await asyncio.to_thread(self.producer.flush, timeout)
            self.pending = 0
            if remaining:
                raise ChangelogError(f"{remaining} changelog records not delivered in {timeout}s")
        if self.delivery.failed:
            raise ChangelogError(f"changelog records failed: {self.delivery.errors}")
