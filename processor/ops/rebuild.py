"""``energy-ingest rebuild``: derived state from the history, after losing it or the broker.

PostgreSQL's history is the durable record. Live tables and hourly rollups are recomputed from
it in one transaction; the Faust live tables are refilled by writing their changelog topics,
which workers read when they start.

It refuses while workers of the same application are running, and names them: their writers
add to the live rows and rollups that the recomputation replaces in the same moment, so a batch
committed during it could be counted twice or not at all. Stop them (Ctrl-C on ``up``),
rebuild, start them again. Workers are seen by the presence lock each one holds in PostgreSQL
(``db/presence.py``), which the rebuild takes alone and holds while it runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from confluent_kafka import Producer

from db.presence import take_exclusively
from db.recompute import hourly_rows, live_rows, rebuild_tables, stream_rows
from processor.domain.kinds import KINDS
from processor.domain.partitioning import partition_for
from processor.domain.table_entries import hour_key
from processor.kafka.producer import Delivery, check_broker, produce, producer_config
from processor.kafka.topics import ensure_topics

KeyOf = Callable[[tuple[Any, ...]], str]
ValueOf = Callable[[tuple[Any, ...]], dict[str, Any]]


def live_key(row: tuple[Any, ...]) -> str:
    return str(row[0])


def hourly_key(row: tuple[Any, ...]) -> str:
    return hour_key(row[0], row[1])


class WorkersRunning(RuntimeError):
    """Workers of the application are running: rebuilding beside them is not safe."""


def rebuild(dsn: str, bootstrap: str, app_id: str, partitions: int, window_hours: int = 48,
            out: Any = sys.stderr) -> dict[str, int]:
    check_broker(bootstrap)
    with psycopg.connect(dsn, autocommit=True) as lock:  # held until the rebuild is done
        running = take_exclusively(lock, app_id)
        if running:
            raise WorkersRunning(
                f"rebuild: {len(running)} worker(s) of {app_id} are running "
                f"({'; '.join(running)}); their writers change the live rows and rollups this "
                "recomputes. Stop them first (Ctrl-C on `energy-ingest up`), rebuild, then "
                "start them again.")
        return _rebuild(dsn, bootstrap, app_id, partitions, window_hours, out)


def _rebuild(dsn: str, bootstrap: str, app_id: str, partitions: int, window_hours: int,
             out: Any) -> dict[str, int]:
    counts = rebuild_tables(dsn)
    for table, n in counts.items():
        print(f"rebuild: {table}: {n} rows", file=out, flush=True)
    counts.update(refill_changelogs(dsn, bootstrap, app_id, partitions, window_hours, out))
    return counts


def refill_changelogs(dsn: str, bootstrap: str, app_id: str, partitions: int,
                      window_hours: int = 48, out: Any = sys.stderr) -> dict[str, int]:
    """Write PostgreSQL's live state and recent rollups into the Faust tables' changelogs."""
    counts = {}
    check_broker(bootstrap)
    ensure_topics(bootstrap, app_id, partitions)
    producer = Producer(producer_config(bootstrap))
    delivery = Delivery()
    since = datetime.now(UTC) - timedelta(hours=window_hours)
    for kind in KINDS.values():
        tables: list[tuple[str, Iterator[tuple[Any, ...]], KeyOf, ValueOf]] = [
            (kind.live_table, stream_rows(dsn, live_rows(kind)), live_key, kind.live_value),
            (kind.hourly_table, stream_rows(dsn, hourly_rows(kind), (since,)), hourly_key,
             kind.hour_value),
        ]
        for table, rows, key_of, value_of in tables:
            topic = f"{app_id}-{table}-changelog"
            sent = 0
            for row in rows:
                key = json.dumps(key_of(row)).encode()
                value = json.dumps(value_of(row)).encode()
                produce(producer, topic, value, key, delivery, partition_for(row[0], partitions))
                sent += 1
            producer.flush(60)
            counts[topic] = sent
            print(f"rebuild: {topic}: {sent} records", file=out, flush=True)
    if delivery.failed:
        raise RuntimeError(f"rebuild: {delivery.failed} changelog records failed: "
                           f"{delivery.errors}")
    return counts

