"""``energy-ingest rebuild``: derived state from the history, after losing it or the broker.

PostgreSQL's history is the durable record. Live tables and hourly rollups are recomputed from
it in one transaction; the Faust live tables are refilled by writing their changelog topics,
which workers read when they start. Run it with the workers stopped (``up`` restarts them).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from confluent_kafka import Producer

from db.rebuild import live_rows, rebuild_tables
from processor.routing import partition_for
from processor.topics import ensure_topics
from processor.writers import live_value
from producers.kafka import Delivery, check_broker, produce, producer_config


def rebuild(dsn: str, bootstrap: str, app_id: str, partitions: int,
            out: Any = sys.stderr) -> dict[str, int]:
    counts = rebuild_tables(dsn)
    for table, n in counts.items():
        print(f"rebuild: {table}: {n} rows", file=out, flush=True)
    counts.update(refill_changelogs(dsn, bootstrap, app_id, partitions, out))
    return counts


def refill_changelogs(dsn: str, bootstrap: str, app_id: str, partitions: int,
                      out: Any = sys.stderr) -> dict[str, int]:
    """Write the live tables of PostgreSQL into the Faust tables' changelog topics."""
    counts = {}
    check_broker(bootstrap)
    ensure_topics(bootstrap, app_id, partitions)
    producer = Producer(producer_config(bootstrap))
    delivery = Delivery()
    for kind in ("meter", "vehicle"):
        topic = f"{app_id}-{kind}_live-changelog"
        sent = 0
        for row in live_rows(dsn, kind):
            key = json.dumps(row[0]).encode()
            value = json.dumps(live_value(kind, row)).encode()
            produce(producer, topic, value, key, delivery, partition_for(row[0], partitions))
            sent += 1
        producer.flush(60)
        counts[topic] = sent
        print(f"rebuild: {topic}: {sent} records", file=out, flush=True)
    if delivery.failed:
        raise RuntimeError(f"rebuild: {delivery.failed} changelog records failed: "
                           f"{delivery.errors}")
    return counts

