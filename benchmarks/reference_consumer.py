"""The reference without the framework: one plain confluent-kafka consumer, in one process,
that runs our own ``validate_message`` and ``write_copy`` on ``telemetry.raw`` and commits its
offsets after each write. No Faust, no router, no second hop, no Faust tables.

Run as a subprocess by ``benchmarks/reference.py`` (``python -m benchmarks.reference_consumer``)
with KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL and APP_ID (its consumer group) in its environment.
It writes ``ready`` once connected and runs until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError

from db.batch_writes import connect, write_copy
from processor.domain.validation import validate_message
from processor.kafka.security import client_config
from processor.kafka.topics import RAW

POLL_MESSAGES = 1_000  # messages a consume() call may return
BATCH_READINGS = 10_000  # a write holds at most about this many readings
POLL_SECONDS = 0.05  # a consume() waits at most this long when the topic is idle


async def write(conn: psycopg.AsyncConnection[Any], kind: str, rows: bytes) -> None:
    """As the writers do: the cheap insert first, the conflict-handling one on a stored row."""
    try:
        await write_copy(conn, kind, rows, expect_new=True)
    except psycopg.errors.UniqueViolation:
        await write_copy(conn, kind, rows)


async def consume(bootstrap: str, dsn: str, group: str, out: Path) -> None:
    consumer = Consumer(client_config(bootstrap, **{
        "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000}))
    consumer.subscribe([RAW])
    conn = await connect(dsn)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    (out / "ready").write_text("1")
    rows: dict[str, list[bytes]] = {"meter": [], "vehicle": []}
    pending = 0
    try:
        while not stopping.is_set():
            messages = consumer.consume(POLL_MESSAGES, POLL_SECONDS)
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(str(error))
                    continue
                for kind, _device, row in validate_message(message.value(),
                                                           as_lines=True).lines:
                    rows[kind].append(row)
                    pending += 1
            if pending and (pending >= BATCH_READINGS or len(messages) < POLL_MESSAGES):
                for kind, kind_rows in rows.items():
                    if kind_rows:
                        await write(conn, kind, b"".join(kind_rows))
                        kind_rows.clear()
                pending = 0
                consumer.commit(asynchronous=False)
            await asyncio.sleep(0)
    finally:
        consumer.close()
        await conn.close()


def main() -> None:
    asyncio.run(consume(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["DATABASE_URL"],
                        os.environ["APP_ID"], Path(os.environ["BENCH_OUT"])))


if __name__ == "__main__":
    main()
