"""Publishing pre-encoded messages as fast as confluent-kafka goes (the producers' settings)."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import Producer

from benchmarks.fleet_input import Message
from processor.kafka.producer import Delivery, produce, producer_config
from processor.kafka.topics import RAW


class Publisher:
    """A producer connected before any clock starts: the first ``send`` pays no set-up (the
    idempotent producer's id, metadata), which costs about half a second on the embedded
    broker."""

    def __init__(self, bootstrap: str, topic: str = RAW) -> None:
        self.topic = topic
        self.producer = Producer(producer_config(bootstrap))
        self.producer.list_topics(topic, timeout=10)

    def send(self, messages: Sequence[Message], timeout: float = 120) -> int:
        """Produce every message and wait for the broker's acks; returns how many."""
        delivery = Delivery()
        producer = self.producer
        topic = self.topic
        for n, (key, value) in enumerate(messages):
            produce(producer, topic, value, key, delivery)
            if n % 1000 == 0:
                producer.poll(0)
        remaining = producer.flush(timeout)
        if remaining or delivery.failed:
            raise RuntimeError(f"publish: {remaining} unsent, {delivery.failed} failed "
                               f"({delivery.errors})")
        return delivery.acked


    def close(self) -> None:
        self.producer.flush(10)
        self.producer.close()


def publish(bootstrap: str, messages: Sequence[Message], topic: str = RAW) -> int:
    publisher = Publisher(bootstrap, topic)
    try:
        return publisher.send(messages)
    finally:
        publisher.close()
