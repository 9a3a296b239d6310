"""Writer agents: routed batches -> one PostgreSQL transaction each -> live Faust tables.

Offsets are acked only after the transaction committed and the table changelog writes are on
the broker. If PostgreSQL is unreachable the writer waits and retries the same batch with
backoff; nothing is acked meanwhile, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import psycopg

from db.copy_format import as_binary
from db.sink import Row, WriteResult, connect, write_copy
from processor import metrics
from processor.changelog import Changelog
from processor.coalesce import newer
from processor.models import iso_utc
from processor.outbox import DeliveryError
from processor.routing import partition_for
from processor.windows import apply_hours, register_window_expiry, window_start

if TYPE_CHECKING:
    from processor.app import Pipeline

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
    """

    def __init__(self, dsn: str, max_backoff: float) -> None:
        self.dsn = dsn
        self.max_backoff = max_backoff
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.careful_until = 0.0

    async def write(self, kind: str, rows: bytes) -> WriteResult:
        delay = 0.5
        failures = 0
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await connect(self.dsn)
                    if failures:
                        log.warning("%s writer: database reachable again, resuming", kind)
                return await self._write(self.conn, kind, rows)
            except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
                failures += 1
                log.warning("%s writer: database unavailable (%s); retry %d in %.1fs, "
                            "nothing acked meanwhile", kind, str(exc).strip().splitlines()[0]
                            if str(exc).strip() else type(exc).__name__, failures, delay)
                await self._close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

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
        return await write_copy(conn, kind, rows, restate=True)

    async def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the connection is gone either way
                await self.conn.close()
            self.conn = None


def _meter_live(row: Row) -> dict[str, Any]:
    return {"ts": iso_utc(row[1]), "kwhConsumedAc": row[2], "voltage": row[3]}


def _vehicle_live(row: Row) -> dict[str, Any]:
    return {"ts": iso_utc(row[1]), "soc": row[2], "kwhDeliveredDc": row[3],
            "batteryTemp": row[4], "meterId": row[5]}


# A live-table value from a live row as the writer statement returns it (id, ts, fields...;
# the writers' session is in UTC). Dict literals: a batch builds one per device.
LIVE_VALUE = {"meter": _meter_live, "vehicle": _vehicle_live}


def live_value(kind: str, row: Row) -> dict[str, Any]:
    return LIVE_VALUE[kind](row)


def live_entries(kind: str, rows: Iterable[Row], data: Any,
                 partitions: int) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(partition, key, value) of each returned live row newer than the table's value: a
    stale row only comes back when a batch restates stored state (see ``BatchSink``)."""
    value_of = LIVE_VALUE[kind]
    for row in rows:
        key = row[0]
        value = value_of(row)
        current = data.get(key)
        if current is None or newer(value["ts"], current.get("ts")):
            yield partition_for(key, partitions), key, value


def exit_for_redelivery(agent: str, what: str) -> NoReturn:
    """Stop the process on an error retrying cannot fix, so the unacked batch is redelivered
    to a restarted worker; Faust would restart just this agent without its events (a stall).
    Also used by the router."""
    log.exception("%s: %s; exiting so the batch is redelivered", agent, what)
    logging.shutdown()
    os._exit(70)


def register_writers(p: Pipeline) -> None:
    for kind in ("meter", "vehicle"):
        _register_writer(p, kind)
    register_window_expiry(p)


def _register_writer(p: Pipeline, kind: str) -> None:
    settings = p.settings
    table = p.live[kind]
    sink = BatchSink(p.dsn, settings.db_retry_max_seconds)
    changelog = Changelog(settings.kafka_bootstrap_servers or "")

    async def writer(stream: Any) -> None:
        async for events in stream.noack().noack_take(
            settings.writer_batch_max, within=settings.writer_flush_seconds
        ):
            rows = b"".join([as_binary(kind, event.value) for event in events])  # binary COPY
            started = time.perf_counter()
            try:
                result = await sink.write(kind, rows)
            except Exception:  # not a lost connection: data or schema trouble
                exit_for_redelivery(f"{kind} writer", "batch failed")
            metrics.batch_written(kind, result.inserted, result.duplicates, started)
            changelog.set_many(table, live_entries(kind, result.live_changed, table.data,
                                                   settings.telemetry_partitions))
            restated = window_start(settings.hourly_window_hours) if result.duplicates else None
            apply_hours(changelog, p.hourly[kind], kind, result.hourly,
                        settings.telemetry_partitions, restated_since=restated)
            try:
                await changelog.flush()
            except DeliveryError:
                exit_for_redelivery(f"{kind} writer", "table changelog not written")
            for event in events:
                await stream.ack(event)

    writer.__name__ = f"{kind}_writer"
    p.app.agent(p.routed[kind], name=f"{kind}_writer")(writer)
