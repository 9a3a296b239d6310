"""Single-reading POSTs that arrive together leave as one Kafka message.

Each Kafka message costs the broker a produce request and the router one Faust event whatever it
holds, so readings posted one by one would cap HTTP ingest at those per-message costs. The
coalescer sends what waits as soon as as many readings wait to be sent as await the broker's
ack for the messages already sent (at the end of the current turn of the event loop, so the
requests parsed in it go together), and once an ack makes that true. An idle gateway so sends a
reading at once (nothing awaits an ack); under load each process's requests in flight split
into about two messages, whatever the client's timing: the batches grow with the concurrency,
not with the broker's round trip. Each request still answers only after the broker
acknowledged the message holding its reading; the readings leave as one JSON array (the router
judges each on its own, as for any batch). A reading alone is published as sent: keyed by its
device.

Measured (docs/performance.md, "The gateway tier"): under the project's load client, which sends
in bursts, ~10 readings a message with two gateway processes, as with the earlier rules (send
when a turn of the event loop brought no new reading, at most 2 ms after the first; send while
fewer than two messages await their ack). Under a Node.js client, whose requests arrive spread
out, 2-3 readings a message whatever the rule: the gateway holds few requests at a time. A fixed
10 ms wait made 13 a message there and 20% more requests/s through `up`, but cost the gateway
alone 35% with the project's client (at concurrency 50 the wait is the latency), so it is not
used.
"""

from __future__ import annotations

import asyncio
from typing import Any

from processor.kafka.publisher import Publisher

Pending = tuple[bytes | None, bytes, asyncio.Future[str | None]]


class Coalescer:
    def __init__(self, publisher: Publisher, topic: str, max_readings: int = 500,
                 linger: float = 0.0) -> None:
        self.publisher = publisher
        self.topic = topic
        self.max_readings = max_readings
        self.linger = linger  # seconds a reading may wait for others while they keep coming
        self.unacked = 0  # readings in messages awaiting the broker's ack
        self.scheduled = False
        self.pending: list[Pending] = []
        self.gap = 1.0  # the time between two readings, averaged (seconds)
        self.last = 0.0  # when the last reading came
        self.timer: asyncio.TimerHandle | None = None

    def busy(self, now: float) -> bool:
        """Whether readings come fast enough for a wait of ``linger`` to gather others: at
        least two expected within it. An idle gateway sends a reading at once."""
        if self.last:
            self.gap += 0.2 * (min(now - self.last, 1.0) - self.gap)
        self.last = now
        return bool(self.linger) and self.gap * 2 <= self.linger

    async def publish(self, key: bytes | None, reading: bytes) -> str | None:
        """None once the broker acked the message holding ``reading`` (a JSON object), else
        the error."""
        if not plain_object(reading):  # UTF-16, a BOM...: valid alone, not inside our array
            return (await self.publisher.publish(self.topic, [(key, reading)]))[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        self.pending.append((key, reading, future))
        lingering = self.busy(loop.time())
        if len(self.pending) >= self.max_readings:
            self.send()
        elif self.timer is not None:
            pass  # the message being gathered leaves when its wait is over
        elif lingering:
            self.timer = loop.call_later(self.linger, self._send_lingered)
        elif self.due() and not self.scheduled:
            # At the end of this turn: the requests parsed in it go together.
            self.scheduled = True
            loop.call_soon(self._send_scheduled)
        return await future

    def _send_lingered(self) -> None:
        self.timer = None
        while self.pending:
            self.send()

    def due(self) -> bool:
        """As many readings wait to be sent as await their ack (an idle coalescer: one)."""
        return len(self.pending) >= max(self.unacked, 1)

    def _send_scheduled(self) -> None:
        self.scheduled = False
        if self.due():
            self.send()

    def send(self) -> None:
        """One message of what is waiting (up to ``max_readings``)."""
        batch, self.pending = self.pending[:self.max_readings], self.pending[self.max_readings:]
        if not batch:
            return
        if not self.pending and self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if len(batch) == 1:
            message = (batch[0][0], batch[0][1])
        else:
            message = (None, b"[" + b",".join(reading for _, reading, _ in batch) + b"]")
        self.unacked += len(batch)
        task = asyncio.ensure_future(self.publisher.publish(self.topic, [message]))
        task.add_done_callback(lambda done: self._acked(done, [f for _, _, f in batch]))

    def _acked(self, done: asyncio.Future[Any],
               futures: list[asyncio.Future[str | None]]) -> None:
        self.unacked -= len(futures)
        _settle(done, futures)
        if self.pending and self.timer is None and self.due():
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
