"""Single-reading POSTs that arrive together leave as one Kafka message.

Each Kafka message costs the broker a produce request and the router one Faust event whatever it
holds, so readings posted one by one would cap HTTP ingest at those per-message costs. The
coalescer is self-clocking: while fewer than ``max_in_flight`` of its messages await the
broker's ack, the readings that arrived in the current turn of the event loop are sent at once;
otherwise they gather until an ack frees a slot (or ``max_readings`` are waiting), and leave
together as one JSON array (the router judges each reading on its own, as for any batch). So an
idle gateway sends a reading without waiting, and a busy one sends batches that grow with the
load and the broker's round trip. Each request still answers only after the broker
acknowledged the message holding its reading. A reading alone is published as sent: keyed by
its device.

Measured against the earlier rule (send when a turn of the event loop brought no new reading,
at the latest 2 ms after the first), gateway single POSTs with the workers paused, 2 processes,
concurrency 50: 6.3-6.9k -> 6.9k (1 in flight) and 8.4k requests/s (2 in flight); with the
workers consuming alongside the CPU is the machine's and the rules were within noise
(docs/performance.md, "The gateway tier").
"""

from __future__ import annotations

import asyncio
from typing import Any

from processor.kafka.publisher import Publisher

Pending = tuple[bytes | None, bytes, asyncio.Future[str | None]]


class Coalescer:
    def __init__(self, publisher: Publisher, topic: str, max_readings: int = 500,
                 max_in_flight: int = 2) -> None:
        self.publisher = publisher
        self.topic = topic
        self.max_readings = max_readings
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.scheduled = False
        self.pending: list[Pending] = []

    async def publish(self, key: bytes | None, reading: bytes) -> str | None:
        """None once the broker acked the message holding ``reading`` (a JSON object), else
        the error."""
        if not plain_object(reading):  # UTF-16, a BOM...: valid alone, not inside our array
            return (await self.publisher.publish(self.topic, [(key, reading)]))[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        self.pending.append((key, reading, future))
        if len(self.pending) >= self.max_readings:
            self.send()
        elif self.in_flight < self.max_in_flight and not self.scheduled:
            # At the end of this turn: the requests parsed in it go together.
            self.scheduled = True
            loop.call_soon(self._send_scheduled)
        return await future

    def _send_scheduled(self) -> None:
        self.scheduled = False
        if self.in_flight < self.max_in_flight:
            self.send()

    def send(self) -> None:
        """One message of what is waiting (up to ``max_readings``)."""
        batch, self.pending = self.pending[:self.max_readings], self.pending[self.max_readings:]
        if not batch:
            return
        if len(batch) == 1:
            message = (batch[0][0], batch[0][1])
        else:
            message = (None, b"[" + b",".join(reading for _, reading, _ in batch) + b"]")
        self.in_flight += 1
        task = asyncio.ensure_future(self.publisher.publish(self.topic, [message]))
        task.add_done_callback(lambda done: self._acked(done, [f for _, _, f in batch]))

    def _acked(self, done: asyncio.Future[Any],
               futures: list[asyncio.Future[str | None]]) -> None:
        self.in_flight -= 1
        _settle(done, futures)
        if self.pending and self.in_flight < self.max_in_flight:
            self.send()


def plain_object(body: bytes) -> bool:
    """Whether the body can be spliced into a JSON array as it is: UTF-8, an object."""
    if not body.lstrip().startswith(b"{"):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _settle(done: asyncio.Future[Any], futures: list[asyncio.Future[str | None]]) -> None:
    for future in futures:
        if future.done():
            continue
        if done.cancelled():  # the event loop is closing
            future.set_result("not acknowledged: the server is stopping")
        elif done.exception() is not None:
            future.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            future.set_result(done.result()[0])
