"""``energy-ingest replay``: re-process a time range of a topic straight into PostgreSQL.

Offsets are found by message timestamp (``offsets_for_times``). Raw messages go through the same
validation and the same batch writer as the worker, so a replay inserts only what is missing:
afterwards the database is identical to a single pass. Readings are judged again with the same
rules; rejects are counted, and so are readings that conflict with the stored reading of their
device and time (their dead letters were written on the first pass; a replay writes none).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from db.batch_writes import connect, write_copy
from processor.domain.kinds import BY_TOPIC, KINDS
from processor.domain.validation import validate_message
from processor.kafka import topics
from processor.kafka.security import client_config

FLUSH_CHUNKS = 5000  # readings (raw) or routed batches between writes
FLUSH_BYTES = 64 << 20  # or this much read (routed batches can hold 5,000 readings each)
QUIET_AFTER_EOF = 1.5  # seconds without messages after end-of-partition before we stop


@dataclass
class ReplaySummary:
    read: int = 0  # messages read in the range
    readings: int = 0  # valid readings among them
    inserted: int = 0
    already_present: int = 0  # identical to a stored reading
    conflicting: int = 0  # their device and time stored with other values: not written
    expired: int = 0  # older than the history's retention horizon: not stored
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few rejection reasons

    def line(self) -> str:
        return (f"read {self.read} messages, {self.readings} valid readings: inserted "
                f"{self.inserted}, already present {self.already_present}, "
                f"conflicting {self.conflicting}, rejected {self.rejected}, "
                f"expired {self.expired}")


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def replay(bootstrap: str, dsn: str, topic: str, start: datetime, end: datetime | None = None,
           out: Any = sys.stderr) -> ReplaySummary:
    return asyncio.run(_replay(bootstrap, dsn, topic, start, end, out))


async def _replay(bootstrap: str, dsn: str, topic: str, start: datetime, end: datetime | None,
                  out: Any) -> ReplaySummary:
    if topic != topics.RAW and topic not in BY_TOPIC:
        raise ValueError(f"cannot replay {topic}: choose {topics.RAW}, "
                         f"{' or '.join(BY_TOPIC)}")
    consumer = Consumer(client_config(bootstrap, **{
        "group.id": f"energy-ingest-replay-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "latest",
        "session.timeout.ms": 6000,
    }))
    summary = ReplaySummary()
    pending: dict[str, list[bytes]] = {name: [] for name in KINDS}
    pending_bytes = 0
    conn = await connect(dsn)

    async def flush() -> None:
        nonlocal pending_bytes
        pending_bytes = 0
        for kind, chunks in pending.items():
            if chunks:
                result = await write_copy(conn, kind, b"".join(chunks), find_conflicts=True)
                if topic != topics.RAW:  # a routed batch's readings are counted by COPY
                    summary.readings += result.received
                summary.inserted += result.inserted
                summary.already_present += result.duplicates
                summary.conflicting += len(result.conflicts)
                summary.expired += result.expired
                chunks.clear()

    try:
        try:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        except KafkaException as exc:
            raise ConnectionError(topics.broker_unreachable_message(bootstrap)) from exc
        if meta is None or meta.error is not None or not meta.partitions:
            raise ValueError(f"topic {topic} does not exist on {bootstrap}")
        wanted = [TopicPartition(topic, p, _ms(start)) for p in meta.partitions]
        offsets = consumer.offsets_for_times(wanted, timeout=10)
        consumer.assign(offsets)
        # Partitions with nothing at or after the start time come back with offset -1 (end).
        open_parts = {tp.partition for tp in offsets if tp.offset >= 0}
        eof_at: dict[int, float] = {}
        end_ms = _ms(end) if end else None
        last_report = time.monotonic()
        while open_parts:
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            now = time.monotonic()
            for msg in batch:
                part = msg.partition() or 0
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        eof_at.setdefault(part, now)
                        continue
                    raise KafkaException(error)
                if part not in open_parts:
                    continue
                eof_at.pop(part, None)
                if end_ms is not None and msg.timestamp()[1] >= end_ms:
                    open_parts.discard(part)
                    continue
                summary.read += 1
                pending_bytes += len(msg.value() or b"")
                _collect(topic, msg.value(), summary, pending)
            # The broker's end offset can be reported early (docs/architecture.md, section 5):
            # a partition is done once it has been quiet for a moment after its
            # end-of-partition event.
            for part, seen in list(eof_at.items()):
                if now - seen >= QUIET_AFTER_EOF:
                    open_parts.discard(part)
                    del eof_at[part]
            if (sum(len(chunks) for chunks in pending.values()) >= FLUSH_CHUNKS
                    or pending_bytes >= FLUSH_BYTES):
                await flush()
            if now - last_report >= 2:
                last_report = now
                print(f"replay: {summary.line()}", file=out, flush=True)
        await flush()
    finally:
        consumer.close()
        await conn.close()
    print(f"replay: done, {summary.line()}", file=out, flush=True)
    for reason in summary.reasons:
        print(f"replay: rejected: {reason}", file=out, flush=True)
    return summary


def _collect(topic: str, value: bytes | None, summary: ReplaySummary,
             pending: dict[str, list[bytes]]) -> None:
    if topic == topics.RAW:
        outcome = validate_message(value, as_lines=True)
        summary.readings += len(outcome.lines)
        summary.rejected += len(outcome.rejections)
        for rejection in outcome.rejections:
            if len(summary.reasons) < 5:
                summary.reasons.append(rejection.reason)
        for name, _, row in outcome.lines:
            pending[name].append(row)
    else:  # a routed batch: binary COPY rows already (or an older router's COPY text)
        kind = BY_TOPIC[topic]
        pending[kind.name].append(kind.as_binary(value or b""))
