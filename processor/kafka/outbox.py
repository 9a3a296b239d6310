"""Records produced through confluent-kafka and awaited together before an ack.

Faust's producer (aiokafka) encodes and sends every request in the event loop's thread, under
the GIL the router and the writers need for their own work; librdkafka does that in its own
threads, on the other core. The router's routed batches went through aiokafka at 7-8% of the
worker's GIL time on batches; the writers' changelog records at ~100 us each (see
``changelog.py``). An outbox queues records and ``flush()`` returns once every one of them is
on the broker, or raises.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import Producer

from processor.kafka.producer import Delivery, produce, producer_config


class DeliveryError(RuntimeError):
    pass


class Outbox:
    def __init__(self, bootstrap: str) -> None:
        self.delivery = Delivery()
        # Delivery reports for failures only: flush() says whether everything was delivered,
        # and a Python callback per acked record cost ~1 us each (a writer's batch changes
        # ~20,000 keys).
        self.producer = Producer(producer_config(
            bootstrap, **{"linger.ms": 2, "delivery.report.only.error": True}))
        self.pending = 0  # records produced since the last flush
        # A thread of its own: in the event loop's default executor (6 threads on 2 cores) a
        # flush queued behind readiness probes, the topic watch and the other outboxes, and a
        # router that waits for its flush holds up the consumer's delivery to every agent.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-flush")

    def send(self, topic: str, value: bytes | None, key: bytes | None,
             partition: int = -1) -> None:
        """Queue a record (``partition`` -1: murmur2 of the key decides)."""
        produce(self.producer, topic, value, key, self.delivery, partition)
        self.pending += 1

    async def flush(self, timeout: float = 60.0) -> None:
        """Return once every record queued before the call is on the broker; raise if any was
        not. Records queued meanwhile (an agent goes on with its next batch while its last
        one's checkpoint waits here) stay pending for the next flush."""
        if self.pending:
            flushing = self.pending
            loop = asyncio.get_running_loop()
            remaining: Any = await loop.run_in_executor(self.executor, self.producer.flush,
                                                        timeout)
            self.pending -= flushing
            if remaining:
                raise DeliveryError(f"{remaining} records not delivered in {timeout}s")
        if self.delivery.failed:
            raise DeliveryError(f"records failed: {self.delivery.errors}")
