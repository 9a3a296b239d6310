"""``energy-ingest publish FILE``: send NDJSON lines (readings or batches) to ``telemetry.raw``.

Lines are sent as they are: the router validates them, and rejects go to the dead-letter topic.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from confluent_kafka import Producer

from processor.kafka.producer import Delivery, check_broker, produce, producer_config
from processor.kafka.topics import RAW
from producers.partition_keys import key_of_line


def publish_lines(bootstrap: str, source: IO[bytes], topic: str = RAW,
                  out: Any = sys.stderr) -> tuple[int, int]:
    """Publish every non-blank line; returns (messages acked, messages failed)."""
    check_broker(bootstrap)
    producer = Producer(producer_config(bootstrap))
    delivery = Delivery()
    started = last = time.monotonic()
    sent = 0
    for line in source:
        line = line.strip()
        if not line:
            continue
        produce(producer, topic, line, key_of_line(line), delivery)
        sent += 1
        if sent % 1000 == 0:
            producer.poll(0)
            now = time.monotonic()
            if now - last >= 2:
                last = now
                print(f"publish: {sent} messages sent", file=out, flush=True)
    producer.flush(30)
    elapsed = time.monotonic() - started
    print(f"publish: done, {sent} messages sent, {delivery.acked} acked, {delivery.failed} "
          f"failed, {elapsed:.1f}s", file=out, flush=True)
    if delivery.failed:
        print(f"publish: delivery errors: {delivery.errors}", file=out, flush=True)
    return delivery.acked, delivery.failed
