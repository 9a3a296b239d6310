"""A confluent-kafka producer that partitions like Faust and Java clients (murmur2)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from processor.topics import broker_unreachable_message

SERVICES_FILE = "services.json"


def producer_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
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
    }


def check_broker(bootstrap: str, timeout: float = 10.0) -> None:
    """Fail early, naming the address, when no broker answers there."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ConnectionError(broker_unreachable_message(bootstrap)) from exc


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


def device_key(reading: dict[str, Any]) -> bytes | None:
    device = reading.get("vehicleId") or reading.get("meterId")
    return device.encode() if isinstance(device, str) else None


def key_of_line(line: bytes) -> bytes | None:
    """The key of a raw NDJSON line: the device id of a single reading, else none."""
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return device_key(document) if isinstance(document, dict) else None


def write_services_file(data_dir: Path, bootstrap: str, dsn: str) -> Path:
    """Let other commands (simulate, publish, psql hints) find the services ``up`` started."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SERVICES_FILE
    path.write_text(json.dumps({"bootstrap": bootstrap, "dsn": dsn, "pid": os.getpid(),
                                "started": time.time()}))
    return path


def running_services(data_dir: Path) -> dict[str, Any] | None:
    """The services of a running ``energy-ingest up``, if one is running."""
    path = data_dir / SERVICES_FILE
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return dict(info)
