"""A confluent-kafka producer that partitions like Faust and Java clients (murmur2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Producer

from processor.kafka.security import client_config
from processor.kafka.topics import connected_admin


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    return client_config(bootstrap, **{
        "partitioner": "murmur2_random",  # agree with Faust on where a device lives
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 500000,
        # JSON readings shrink ~5.6x: the broker stores, copies and serves a fifth of the
        # bytes, and the workers read fewer (docs/performance.md, note 31). Consumers
        # decompress in their own client (librdkafka; cramjam for aiokafka).
        "compression.type": "lz4",
        **extra,
    })


def check_broker(bootstrap: str, timeout: float = 10.0) -> None:
    """Fail early, naming the address (or the TLS or SASL refusal), when no broker answers
    there."""
    connected_admin(bootstrap, timeout)


@dataclass
class Delivery:
    """Counts of broker acknowledgements, filled by delivery callbacks."""

    acked: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.acked += 1
        else:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(str(err))


def produce(producer: Producer, topic: str, value: bytes | None, key: bytes | None,
            on_delivery: Delivery, partition: int = -1) -> None:
    """Produce, waiting for room when the local queue is full instead of failing.

    ``partition`` -1 lets the partitioner choose (murmur2 of the key).
    """
    while True:
        try:
            producer.produce(topic, value=value, key=key, partition=partition,
                             on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)
