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

from processor.errors import first_line
from processor.kafka import topics as kafka_topics
from processor.kafka.producer import producer_config

log = logging.getLogger(__name__)

Message = tuple[bytes | None, bytes]  # key, value


# Delivery errors after which the producer is rebuilt, as after a fatal one: a broker that
# restarted empty no longer knows our idempotent producer id, and librdkafka, which takes
# UNKNOWN_PRODUCER_ID for retriable, kept retrying until every message timed out, request
# after request (seen in tests/integration/test_gateway.py's outage: the restarted broker
# logged UnknownProducerId ten times a second for 90 s). A new producer gets a new id.
REBUILD_AFTER = frozenset({
    KafkaError.UNKNOWN_PRODUCER_ID, KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    KafkaError.INVALID_PRODUCER_EPOCH, KafkaError._MSG_TIMED_OUT,
})


def needs_new_producer(err: KafkaError | None) -> bool:
    return err is not None and (err.fatal() or err.code() in REBUILD_AFTER)


class Publisher:
    """One idempotent, acks=all, murmur2-partitioning producer per worker, created on first use."""

    def __init__(self, bootstrap: str, timeout: float) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[asyncio.Future[str | None]] = set()  # awaiting the broker's ack
        self._loop: asyncio.AbstractEventLoop | None = None

    def producer(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(producer_config(
                    self.bootstrap,
                    # librdkafka itself fails a message not acked in time: the callback then
                    # reports the error, so no ack can arrive after we answered 503.
                    # linger.ms 1: the coalescer has already gathered what arrived together;
                    # without any, every produce() wakes librdkafka's broker thread at once,
                    # which on a busy host preempts this thread inside produce(), the GIL
                    # held: measured under a Node.js client, produce() took 302 us of wall
                    # time a call (28 us of CPU) with 0, 158 us with 1.
                    **{"message.timeout.ms": int(self.timeout * 1000), "linger.ms": 1},
                ))
                self._stop = threading.Event()
                threading.Thread(target=self._poll, args=(self._producer, self._stop),
                                 name="http-publisher-poll", daemon=True).start()
            return self._producer

    def _poll(self, producer: Producer, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                producer.poll(0.1)
            except KafkaException as exc:  # fatal (e.g. a broker that lost our producer id)
                reason = str(exc.args[0] if exc.args else exc)
                log.error("HTTP publisher: the producer failed (%s); the readings it held are "
                          "answered 503 and a new producer takes the next ones", reason)
                self._fail_pending(f"the producer failed: {reason}")
                self.reset(producer)
                return
        producer.flush(5)

    def _fail_pending(self, reason: str) -> None:
        """From the poll thread: answer every message still waiting with ``reason``."""
        loop = self._loop
        if loop is None:
            return
        for fut in list(self._pending):
            loop.call_soon_threadsafe(_settle, fut, reason)

    async def publish(self, topic: str, messages: Sequence[Message]) -> list[str | None]:
        """Produce every message; per message, None once the broker acked it, else the error."""
        if not messages:  # every reading of the request was refused
            return []
        loop = self._loop = asyncio.get_running_loop()
        producer = self.producer()
        futures: list[asyncio.Future[str | None]] = []
        stale = False
        for key, value in messages:
            fut: asyncio.Future[str | None] = loop.create_future()
            futures.append(fut)
            self._pending.add(fut)

            def on_delivery(err: KafkaError | None, _msg: Any,
                            fut: asyncio.Future[str | None] = fut) -> None:
                nonlocal stale
                if needs_new_producer(err):
                    stale = True
                loop.call_soon_threadsafe(_settle, fut, None if err is None else err.str())

            await self._produce(producer, topic, key, value, on_delivery, fut)
        try:
            # librdkafka times each message out itself (message.timeout.ms); never hang anyway.
            await asyncio.wait(futures, timeout=self.timeout + 5)
        finally:
            self._pending.difference_update(futures)
        if stale:
            self.reset(producer)
        return [f.result() if f.done() else "no acknowledgement" for f in futures]

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

    async def broker_problem(self, timeout: float) -> str | None:
        """None when the broker answered a metadata request and knows ``telemetry.raw``, else
        why not (for readiness)."""
        try:
            names = await asyncio.to_thread(self.topics, timeout)
        except Exception as exc:  # any failure means "not ready"; say which
            return f"the Kafka broker at {self.bootstrap} did not answer: {first_line(exc)}"
        if kafka_topics.RAW not in names:
            return f"the Kafka broker at {self.bootstrap} has no topic {kafka_topics.RAW}"
        return None

    def reset(self, producer: Producer | None = None) -> None:
        """Drop a producer in a fatal or stale state (``producer``: only if it is still the
        current one); the next request builds a new one."""
        with self._lock:
            if self._producer is not None and producer in (None, self._producer):
                log.warning("HTTP publisher: the producer failed or its messages timed out; "
                            "recreating it")
                self._stop.set()
                self._producer = None

    def close(self) -> None:
        with self._lock:
            self._stop.set()
            self._producer = None


def _settle(fut: asyncio.Future[str | None], error: str | None) -> None:
    if not fut.done():
        fut.set_result(error)
