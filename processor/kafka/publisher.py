"""Publishing HTTP readings with confluent-kafka, awaiting the broker's acks on the event loop.

librdkafka delivers acks through callbacks that run inside ``poll()``. A daemon thread polls, and
each callback resolves its asyncio future with ``call_soon_threadsafe``, so a request can await
its acks without blocking the worker's event loop (the Faust agents share that loop).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from processor.kafka.producer import producer_config

log = logging.getLogger(__name__)

Message = tuple[bytes | None, bytes]  # key, value


class Publisher:
    """One idempotent, acks=all, murmur2-partitioning producer per worker, created on first use."""

    def __init__(self, bootstrap: str, timeout: float) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def producer(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(producer_config(
                    self.bootstrap,
                    # librdkafka itself fails a message not acked in time: the callback then
                    # reports the error, so no ack can arrive after we answered 503.
                    # No linger: the coalescer has already gathered what arrived together,
                    # and each request waits for its ack (HTTP single POSTs ~5,100 -> ~6,300
                    # requests/s at concurrency 50 without the 2 ms it added).
                    **{"message.timeout.ms": int(self.timeout * 1000), "linger.ms": 0},
                ))
                self._stop = threading.Event()
                threading.Thread(target=self._poll, args=(self._producer, self._stop),
                                 name="http-publisher-poll", daemon=True).start()
            return self._producer

    @staticmethod
    def _poll(producer: Producer, stop: threading.Event) -> None:
        while not stop.is_set():
            producer.poll(0.1)
        producer.flush(5)

    async def publish(self, topic: str, messages: Sequence[Message]) -> list[str | None]:
        """Produce every message; per message, None once the broker acked it, else the error."""
        loop = asyncio.get_running_loop()
        producer = self.producer()
        futures: list[asyncio.Future[str | None]] = []
        fatal = False

        def settle(fut: asyncio.Future[str | None], error: str | None) -> None:
            if not fut.done():
                fut.set_result(error)

        for key, value in messages:
            fut: asyncio.Future[str | None] = loop.create_future()
            futures.append(fut)

            def on_delivery(err: KafkaError | None, _msg: Any,
                            fut: asyncio.Future[str | None] = fut) -> None:
                nonlocal fatal
                if err is not None and err.fatal():
                    fatal = True
                loop.call_soon_threadsafe(settle, fut, None if err is None else err.str())

            await self._produce(producer, topic, key, value, on_delivery, fut)
        try:
            results = await asyncio.wait_for(asyncio.gather(*futures), self.timeout + 5)
        except TimeoutError:  # librdkafka should have timed them out first; never hang
            results = [f.result() if f.done() else "no acknowledgement" for f in futures]
        if fatal:
            self.reset()
        return list(results)

    async def _produce(self, producer: Producer, topic: str, key: bytes | None, value: bytes,
                       on_delivery: Any, fut: asyncio.Future[str | None]) -> None:
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                return
            except BufferError:  # local queue full: the poll thread drains it
                if asyncio.get_running_loop().time() > deadline:
                    fut.set_result("the producer's local queue stayed full")
                    return
                await asyncio.sleep(0.01)
            except KafkaException as exc:
                fut.set_result(str(exc.args[0] if exc.args else exc))
                return

    def topics(self, timeout: float) -> set[str]:
        """Topic names from the broker's metadata (blocking: run it in a thread).

        Lists all topics rather than asking for one: a metadata request naming a missing topic
        makes some brokers (Tansu) create it with the wrong partition count.
        """
        return set(self.producer().list_topics(timeout=timeout).topics)

    def reset(self) -> None:
        """Drop a producer in a fatal state; the next request builds a new one."""
        with self._lock:
            if self._producer is not None:
                log.warning("HTTP publisher: producer in a fatal state, recreating it")
                self._stop.set()
                self._producer = None

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            self._producer = None
