"""Writer agents: routed batches -> one PostgreSQL transaction each -> live Faust tables.

Offsets are acked only after the transaction committed and the table changelog writes (and
dead letters) are on the broker (``processor.stream.checkpoint``). If PostgreSQL is unreachable the
writer waits and retries the same batch with backoff; nothing is acked meanwhile, so nothing is
lost. A reading whose device and time are already stored with other values is not written: it
goes to ``telemetry.dlq`` as a conflict; an identical one is a silent duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from db.batch_writes import Row, WriteResult, connect, write_copy
from db.errors import classify
from processor.domain.copy_rows import decode_row, split_rows
from processor.domain.dead_letters import conflict_letter, refused_letter
from processor.domain.kinds import KINDS, DeviceKind
from processor.domain.partitioning import partition_for
from processor.domain.table_entries import hour_entries, live_entries, window_start
from processor.errors import first_line
from processor.kafka import topics
from processor.kafka.changelog import Changelog
from processor.kafka.outbox import Outbox
from processor.stream import metrics
from processor.stream.checkpoint import Pipelined, exit_for_redelivery, guarded
from processor.stream.offsets import FirstOffsets, committed_offset
from processor.stream.pipeline import Pipeline
from processor.stream.watchdog import watch_take

log = logging.getLogger(__name__)

# After a batch held readings already stored (a redelivery, a replay, a producer's retry), the
# writer uses the conflict-handling insert for this long before it expects new readings again.
CAREFUL_SECONDS = 60.0


class BatchSink:
    """A writer's database connection, reconnected with backoff whenever it is lost.

    Batches are first written expecting only new readings (history inserted without conflict
    handling, the cheaper statement); one that holds a stored reading fails, is written again
    with ON CONFLICT DO NOTHING, and the sink stays careful for ``CAREFUL_SECONDS``. A batch
    that held stored readings returns the stored state of its devices and device-hours: if it
    is a redelivery, the first delivery may have committed without its table changes reaching
    the changelog, and the tables catch up from these.

    Errors by kind (``db/errors.py``): a transient one (a lost connection) is retried with
    backoff, and the writer counts as alive meanwhile; a permanent condition (a full disk, a
    read-only database, a missing table or partition) is retried too, but the writer is
    reported degraded with the cause (``/readyz``, ``energy_writes_degraded``) until a write
    succeeds; readings the database refuses (a constraint, a value out of range) are found by
    splitting the batch (``write_each``) and handed back with the database's message.
    """

    def __init__(self, dsn: str, max_backoff: float,
                 alive: Callable[[], None] = lambda: None,
                 degraded: Callable[[str | None], None] = lambda cause: None) -> None:
        self.dsn = dsn
        self.max_backoff = max_backoff
        self.alive = alive  # called at each retry: waiting for the database is not a stall
        self.degraded = degraded  # a permanent condition's cause, or None once it passed
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.careful_until = 0.0
        self.condition: str | None = None

    async def write(self, kind: str, rows: bytes) -> WriteResult:
        """Write ``rows`` in one transaction, waiting out transient and permanent conditions;
        raises what is neither (refused readings, a bug)."""
        delay = 0.5
        failures = 0
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await connect(self.dsn)
                    if failures:
                        log.warning("%s writer: database reachable again, resuming", kind)
                result = await self._write(self.conn, kind, rows)
                if self.condition is not None:
                    log.warning("%s writer: %s no more; writing again", kind, self.condition)
                    self.condition = None
                    self.degraded(None)
                return result
            except psycopg.Error as exc:
                what, cause = classify(exc)
                if what not in ("transient", "permanent"):
                    raise
                failures += 1
                if what == "permanent":
                    if self.condition != cause:
                        log.error("%s writer: %s; the batch waits, nothing acked meanwhile "
                                  "(%s)", kind, cause, first_line(exc))
                    self.condition = cause
                    self.degraded(cause)
                else:
                    log.warning("%s writer: database unavailable (%s); retry %d in %.1fs, "
                                "nothing acked meanwhile", kind, cause, failures, delay)
                    self.alive()
                await self._close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    async def write_each(self, kind: str, rows: bytes) -> tuple[WriteResult, list[Refusal]]:
        """``write``, and where the database refuses the batch's data, the same batch split in
        halves until the refused readings are found: they come back with the database's
        message, every other reading is written (each part in its own transaction)."""
        try:
            return await self.write(kind, rows), []
        except psycopg.Error as exc:
            what, message = classify(exc)
            if what != "refused":
                raise
            parts = split_rows(rows)
            if len(parts) == 1:
                return WriteResult(0, 0), [(rows, message)]
            middle = len(parts) // 2
            first, refused_first = await self.write_each(kind, b"".join(parts[:middle]))
            second, refused_second = await self.write_each(kind, b"".join(parts[middle:]))
            return first.then(second), refused_first + refused_second

    async def _write(self, conn: psycopg.AsyncConnection[Any], kind: str,
                     rows: bytes) -> WriteResult:
        if time.monotonic() >= self.careful_until:
            try:
                return await write_copy(conn, kind, rows, expect_new=True)
            except psycopg.errors.UniqueViolation:
                self.careful_until = time.monotonic() + CAREFUL_SECONDS
                metrics.CAREFUL_WRITES.labels(kind).inc()
                log.info("%s writer: a batch held readings already stored; written again "
                         "skipping them, and so for the next %.0fs", kind, CAREFUL_SECONDS)
        return await write_copy(conn, kind, rows, restate=True, find_conflicts=True)

    async def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the connection is gone either way
                await self.conn.close()
            self.conn = None


Refusal = tuple[bytes, str]  # a refused reading's binary COPY row, the database's message


def batch_spans(events: Sequence[Any]) -> dict[int, tuple[int, int]]:
    """The first and last offset a writer's batch took from each partition."""
    spans: dict[int, tuple[int, int]] = {}
    for event in events:
        message = event.message
        first, last = spans.get(message.partition, (message.offset, message.offset))
        spans[message.partition] = (min(first, message.offset), max(last, message.offset))
    return spans


def send_refusals(outbox: Outbox, kind: DeviceKind, refused: Sequence[Refusal],
                  events: Sequence[Any], partitions: int) -> None:
    """A dead letter for each reading the database refused, with its message."""
    spans = batch_spans(events)
    for row, message in refused:
        values = decode_row(row, kind.text_columns)
        partition = partition_for(values[0], partitions)
        outbox.send(topics.DLQ, refused_letter(kind, values, message, partition,
                                               spans.get(partition) or (-1, -1)),
                    values[0].encode())


def send_conflicts(outbox: Outbox, kind: DeviceKind, conflicts: Sequence[Row],
                   events: Sequence[Any], partitions: int) -> None:
    """A dead letter for each conflicting reading, naming the routed batches it came in:
    the range of offsets the writer's batch took from its device's partition."""
    spans = batch_spans(events)
    for row in conflicts:
        partition = partition_for(row[0], partitions)
        offsets = spans.get(partition) or (-1, -1)
        outbox.send(topics.DLQ, conflict_letter(kind, row, partition, offsets),
                    row[0].encode())


async def skipped(p: Pipeline, name: str, tp: Any, offset: int, committed: int) -> None:
    """A partition resumed past its committed offset: exit for redelivery, unless retention
    deleted those records before anyone read them (then restarting would not bring them back:
    said loudly, and the writer goes on)."""
    earliest = (await p.app.consumer.earliest_offsets(tp)).get(tp)
    if earliest is not None and earliest > committed:
        log.error("%s: records %d-%d of %s were deleted by the topic's retention before they "
                  "were written; they are lost", name, committed, earliest - 1, tp)
        return
    exit_for_redelivery(name, f"{tp} resumed at offset {offset} after a rebalance, not at its "
                              f"committed offset {committed}: records were skipped")


def register_writers(p: Pipeline) -> None:
    for kind in KINDS.values():
        _register_writer(p, kind)


def _register_writer(p: Pipeline, kind: DeviceKind) -> None:
    settings = p.settings
    name = f"{kind.name}_writer"
    live, hourly = p.live[kind.name], p.hourly[kind.name]
    def degraded(cause: str | None) -> None:
        p.watchdog.degraded(name, cause)
        metrics.writes_degraded(name, cause)

    sink = BatchSink(p.dsn, settings.db_retry_max_seconds,
                     alive=lambda: p.watchdog.progressed(name), degraded=degraded)
    # The writer's one producer: table changelogs and dead letters (conflicts).
    changelog = Changelog(settings.kafka_bootstrap_servers or "")
    partitions = settings.telemetry_partitions

    first = FirstOffsets(committed_offset(lambda: p.app.consumer))
    p.on_assignment.append(first.reset)

    async def writer(stream: Any) -> None:
        checkpoints = Pipelined(name, p.watchdog)
        async for events in watch_take(name, stream.noack().noack_take(
            settings.writer_batch_max, within=settings.writer_flush_seconds
        )):
            p.watchdog.began(name)
            for event in events:
                message = event.message
                committed = first.skipped(message.tp, message.offset)
                if committed is not None:
                    await skipped(p, name, message.tp, message.offset, committed)
            rows = b"".join([kind.as_binary(event.value) for event in events])  # binary COPY
            started = time.perf_counter()
            try:
                result, refused = await sink.write_each(kind.name, rows)
            except Exception:  # neither the database's condition nor refused data: a bug
                exit_for_redelivery(name, "batch failed")
            metrics.batch_written(kind.name, result.inserted, result.duplicates, started,
                                  len(result.conflicts), len(refused), result.expired)
            if result.conflicts:
                send_conflicts(changelog, kind, result.conflicts, events, partitions)
            if refused:
                log.warning("%s: the database refused %d of the batch's readings (%s); they "
                            "go to %s, the others are written", name, len(refused),
                            refused[0][1], topics.DLQ)
                send_refusals(changelog, kind, refused, events, partitions)
            changelog.set_many(live, live_entries(kind, result.live_changed, live.data,
                                                  partitions))
            restated = window_start(settings.hourly_window_hours) if result.skipped else None
            changelog.set_many(hourly, hour_entries(kind, result.hourly, hourly.data,
                                                    partitions, restated))
            # acked once the changelog records and dead letters are on the broker, while the
            # writer goes on with its next batch
            await checkpoints.submit(stream, events, (changelog,))

    writer.__name__ = name
    p.app.agent(p.routed[kind.name], name=name)(guarded(name)(writer))
