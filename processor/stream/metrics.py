"""Prometheus metrics of a worker, served at ``GET /metrics``.

Counters are module-level so they are registered once per process, however many times an app is
built (tests build several). The router and writers call the small functions below; consumer lag
is computed when scraped, from the Faust consumer's own view of its partitions.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

from processor.domain.kinds import KINDS
from processor.domain.validation import Rejection, reading_type

RAW_MESSAGES = Counter(
    "energy_raw_messages_total", "Messages the router consumed from telemetry.raw.")
READINGS_ACCEPTED = Counter(
    "energy_readings_accepted_total",
    "Valid readings the router passed on to the writers, by type.", ["type"])
READINGS_REJECTED = Counter(
    "energy_readings_rejected_total",
    "Invalid readings (or unreadable messages) the router rejected, by type "
    "(\"unknown\" when the input has none).", ["type"])
DEAD_LETTERS = Counter(
    "energy_dead_letters_total",
    "Records sent to telemetry.dlq: the router's rejections and the writers' conflicts.")
BATCHES_WRITTEN = Counter(
    "energy_batches_written_total",
    "Writer transactions committed to PostgreSQL, by type.", ["type"])
CAREFUL_WRITES = Counter(
    "energy_batches_rewritten_total",
    "Writer batches that held readings already stored, so were written a second time with "
    "the history insert skipping them, by type.", ["type"])
ROWS_WRITTEN = Counter(
    "energy_history_rows_total",
    "Readings a writer handled, by type and outcome: inserted; duplicate (identical to a stored "
    "reading: a redelivery, a replay, a retry); conflict (the device and time are stored with "
    "other values: the reading went to telemetry.dlq); refused (the database refused it, e.g. "
    "a constraint: the reading went to telemetry.dlq with the database's message); expired "
    "(older than the history's retention horizon, RETENTION_DAYS: a dropped day stays "
    "dropped, and the reading is not stored).",
    ["type", "outcome"])
WRITES_DEGRADED = Gauge(
    "energy_writes_degraded",
    "1 while a writer waits on a permanent condition of the database (a full disk, a read-only "
    "database, a missing table or partition; /readyz names it), else 0, by writer.",
    ["agent"])
DB_WRITE_SECONDS = Histogram(
    "energy_db_write_seconds",
    "Time to write one batch to PostgreSQL, retries included, by type.", ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
HTTP_READINGS = Counter(
    "energy_http_readings_total",
    "Readings received by POST /v1/telemetry, by type and outcome (accepted, rejected).",
    ["type", "outcome"])
INTERNAL_ERRORS = Counter(
    "energy_internal_errors_total",
    "Inputs that made our own code raise (a bug, not bad input), by where: router (the "
    "message went to telemetry.dlq with reason \"internal error\"), validation (one reading "
    "of a message did), http (a request or reading was refused with a 4xx).", ["stage"])
REDELIVERED = Counter(
    "energy_redelivered_partitions_total",
    "Times a partition's records, held by the consumer and never processed by its idle agent, "
    "were fetched again from the commit (processor/domain/stalls.py LostRecords).",
    ["topic"])
TIMER_ERRORS = Counter(
    "energy_timer_errors_total",
    "Exceptions a worker's timer raised (logged with their traceback; the timer runs again at "
    "its next period), by timer.", ["timer"])
CHANGELOG_READ_LIVE = Counter(
    "energy_changelog_records_read_outside_recovery_total",
    "Records of this worker's table changelogs its consumer read while no recovery ran, by "
    "table. 0 in normal operation: the writers set the tables themselves, and the changelog "
    "partitions are only read while a recovery runs (processor/stream/faust_fixes.py, 3).",
    ["table"])
UNPROCESSED_ACKS = Counter(
    "energy_unprocessed_acks_refused_total",
    "Acks Faust made of records on the agents' topics that no agent processed (a stream's skip "
    "during a rebalance), refused so the commit waits for the record, by topic. 0 with Faust's "
    "compiled stream iterator, which skips without acking (processor/stream/faust_fixes.py, 7).",
    ["topic"])
RECOVERY_STEPS_OVERTAKEN = Counter(
    "energy_recovery_steps_overtaken_total",
    "Recovery steps whose seek of the stream partitions ended after a newer rebalance had "
    "begun, so they resumed nothing: the newer rebalance's recovery seeks and resumes the "
    "partitions (processor/stream/faust_fixes.py, 10). Not a fault: a sign of rebalances "
    "close together.")
PYTHON_BLOCKS = Gauge(
    "energy_python_allocated_blocks",
    "Memory blocks Python's allocator holds for live objects (sys.getallocatedblocks), read "
    "when scraped. Beside the resident memory it tells a leak (both grow) from memory the "
    "allocators keep after a burst (the resident memory grows, the blocks do not).")
PYTHON_BLOCKS.set_function(sys.getallocatedblocks)
# Counters of guards that must never have to act: each reads 0 on a healthy worker (the test
# suite's session worker and the chaos soak fail otherwise).
GUARDS = ("energy_redelivered_partitions_total", "energy_timer_errors_total",
          "energy_changelog_records_read_outside_recovery_total",
          "energy_unprocessed_acks_refused_total")
ROUTER_PAUSES = Counter(
    "energy_router_pauses_total",
    "Times the router stopped taking telemetry.raw because the routed records waiting for "
    "this worker's writers exceeded ROUTER_PAUSE_LAG.")
ROUTER_PAUSED = Gauge(
    "energy_router_paused",
    "1 while the router is paused for the writers to catch up (ROUTER_PAUSE_LAG), else 0.")
CONSUMER_LAG = Gauge(
    "energy_consumer_lag",
    "Records not yet committed by this worker, per assigned partition (computed at scrape).",
    ["topic", "partition"])


def readings_accepted(counts: Mapping[str, int]) -> None:
    """Count valid readings by type, as counted by the caller (one increment per type)."""
    for kind, n in counts.items():
        if n:
            READINGS_ACCEPTED.labels(kind).inc(n)


def readings_rejected(rejections: Sequence[Rejection]) -> None:
    """Count rejections by the type they claimed; each one is also a dead letter."""
    if not rejections:
        return
    DEAD_LETTERS.inc(len(rejections))
    for rejection in rejections:
        READINGS_REJECTED.labels(claimed_type(rejection.original)).inc()


def claimed_type(original: bytes) -> str:
    """The type a rejected input declared or implied, else "unknown" (bounded label values)."""
    try:
        document = json.loads(original)
    except (ValueError, RecursionError):
        return "unknown"
    kind = reading_type(document) if isinstance(document, dict) else None
    return kind if kind in KINDS else "unknown"


def internal_error(stage: str, n: int = 1) -> None:
    INTERNAL_ERRORS.labels(stage).inc(n)


def batch_written(kind: str, inserted: int, duplicates: int, started: float,
                  conflicts: int = 0, refused: int = 0, expired: int = 0) -> None:
    """A writer committed a batch; ``started`` is its ``time.perf_counter()`` before the write."""
    DB_WRITE_SECONDS.labels(kind).observe(time.perf_counter() - started)
    BATCHES_WRITTEN.labels(kind).inc()
    ROWS_WRITTEN.labels(kind, "inserted").inc(inserted)
    ROWS_WRITTEN.labels(kind, "duplicate").inc(duplicates)
    if conflicts:
        ROWS_WRITTEN.labels(kind, "conflict").inc(conflicts)
        DEAD_LETTERS.inc(conflicts)
    if refused:
        ROWS_WRITTEN.labels(kind, "refused").inc(refused)
        DEAD_LETTERS.inc(refused)
    if expired:
        ROWS_WRITTEN.labels(kind, "expired").inc(expired)


def writes_degraded(agent: str, cause: str | None) -> None:
    """A writer waits on a permanent condition of the database (``cause``), or no more."""
    WRITES_DEGRADED.labels(agent).set(0 if cause is None else 1)


def http_readings(accepted: Mapping[str, int], rejected: Mapping[str, int]) -> None:
    for kind, n in accepted.items():
        _http_child(kind, "accepted").inc(n)
    for kind, n in rejected.items():
        _http_child(kind, "rejected").inc(n)


@lru_cache(maxsize=16)  # a few kinds; labels() looks the child up under a lock each time
def _http_child(kind: str, outcome: str) -> Any:
    return HTTP_READINGS.labels(kind, outcome)


def lag(highwater: int | None, committed: int | None) -> int | None:
    """Records behind the end of a partition; never negative, since Tansu may report end
    offsets a little low (docs/architecture.md, section 5)."""
    if highwater is None or committed is None:
        return None
    return max(0, highwater - committed)


def set_consumer_lag(lags: Mapping[tuple[str, int], int]) -> None:
    """Replace the lag series: partitions this worker no longer owns disappear."""
    CONSUMER_LAG.clear()
    for (topic, partition), value in lags.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(value)


def _value(name: str, **labels: str) -> int:
    return int(REGISTRY.get_sample_value(name, labels) or 0)


def progress_line() -> str:
    """The worker's progress, for its log, from the same counters ``/metrics`` serves."""
    def written(kind: str) -> str:
        inserted = _value("energy_history_rows_total", type=kind, outcome="inserted")
        duplicate = _value("energy_history_rows_total", type=kind, outcome="duplicate")
        conflict = _value("energy_history_rows_total", type=kind, outcome="conflict")
        conflicts = f", {conflict} conflicting" if conflict else ""
        return f"{kind} {inserted} (+{duplicate} already present{conflicts})"

    valid = sum(_value("energy_readings_accepted_total", type=k) for k in KINDS)
    return (f"raw messages {_value('energy_raw_messages_total')}, valid readings {valid}, "
            f"rejected {_value('energy_dead_letters_total')}; "
            f"written: {', '.join(written(k) for k in KINDS)}")
