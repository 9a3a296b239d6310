"""Daily history partitions: created ahead of time, dropped after ``RETENTION_DAYS``.

Run by ``energy-ingest partitions`` and, on a timer, by the leader worker
(``processor/stream/maintenance.py``). Both may run at once: an advisory lock makes them take turns,
and every step is harmless to repeat.

Retention works on whole days. The daily partition of day D holds [D, D+1) UTC; it is dropped
once D+1 is at or before the horizon, ``today - retention_days`` (midnight UTC). Rows of those
days that sit in the default partition (written before their partition existed) are deleted in
batches. The default partition itself is never dropped. The horizon is recorded in
``history_retention`` and never moves back: the database then refuses readings older than it
(see ``db/migrations/0003_retention.sql``), so a replay cannot count a dropped day twice in the
rollups. The hourly rollups and live tables are not touched by retention.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg import sql

from db.migrate import HISTORY_TABLES

log = logging.getLogger(__name__)

PARTITION_LOCK = 7_245_002  # advisory lock: one maintenance run at a time
# A drop waits this long for the writers' locks, then is retried on the next run.
DROP_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"
DEFAULT_DELETE_BATCH = 10_000

ENSURE_DAY = "SELECT energy_ensure_day_partition(%s, %s)"

# Only partitions named as energy_ensure_day_partition names them; anything else an operator
# attached by hand (and the default partition) is left alone.
DAILY_PARTITIONS = """
SELECT c.relname
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = %s::regclass AND c.relname ~ %s
ORDER BY c.relname
"""

# The horizon only moves forward; the effective one is returned.
ADVANCE_HORIZON = """
INSERT INTO history_retention AS r (table_name, kept_from) VALUES (%s, %s)
ON CONFLICT (table_name) DO UPDATE
    SET kept_from = greatest(r.kept_from, EXCLUDED.kept_from), updated_at = now()
RETURNING kept_from
"""

HORIZON = "SELECT kept_from FROM history_retention WHERE table_name = %s"

DELETE_DEFAULT_BATCH = """
DELETE FROM {default} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {default} WHERE ts < %s LIMIT %s))
"""


@dataclass
class PartitionReport:
    """What one maintenance run changed."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    default_rows_deleted: dict[str, int] = field(default_factory=dict)
    kept_from: dict[str, datetime] = field(default_factory=dict)  # table -> horizon
    skipped: list[str] = field(default_factory=list)  # drops that timed out on a lock

    @property
    def changed(self) -> bool:
        return bool(self.created or self.dropped or any(self.default_rows_deleted.values()))

    def lines(self) -> list[str]:
        out = [f"created\t{name}" for name in self.created]
        out += [f"dropped\t{name}" for name in self.dropped]
        out += [f"deleted\t{n} rows older than the horizon from {table}_default"
                for table, n in self.default_rows_deleted.items() if n]
        out += [f"skipped\t{name} (locked; retried on the next run)" for name in self.skipped]
        out += [f"horizon\t{table} keeps readings from {ts.isoformat()}"
                for table, ts in self.kept_from.items()]
        return out


def partition_name(table: str, day: date) -> str:
    """The name energy_ensure_day_partition gives the partition of ``day``."""
    return f"{table}_p{day:%Y%m%d}"


def horizon_for(today: date, retention_days: int) -> datetime:
    """Midnight UTC ``retention_days`` before ``today``: older history is dropped."""
    return datetime.combine(today - timedelta(days=retention_days), time(), tzinfo=UTC)


def maintain_partitions(dsn: str, *, ahead_days: int, retention_days: int,
                        behind_days: int = 0, today: date | None = None,
                        delete_batch: int = DEFAULT_DELETE_BATCH) -> PartitionReport:
    """Create the daily partitions from ``behind_days`` ago to ``ahead_days`` on, then, when
    ``retention_days`` > 0, drop the ones older than the horizon and delete older rows from the
    default partitions. ``today`` (UTC) is a parameter so that tests can fix it."""
    today = today or datetime.now(UTC).date()
    report = PartitionReport()
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('history_retention')").fetchone() in (None, (None,)):
            raise RuntimeError("the database is not migrated for retention: run "
                               "`energy-ingest migrate` first")
        conn.execute("SELECT pg_advisory_lock(%s)", (PARTITION_LOCK,))
        try:
            for table in HISTORY_TABLES:
                horizon = _advance_horizon(conn, table, today, retention_days)
                if horizon is not None:
                    report.kept_from[table] = horizon
                report.created += _create(conn, table, today, ahead_days, behind_days, horizon)
                if horizon is None:
                    continue
                dropped, skipped = _drop_before(conn, table, horizon)
                report.dropped += dropped
                report.skipped += skipped
                report.default_rows_deleted[table] = _delete_default_before(
                    conn, table, horizon, delete_batch)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (PARTITION_LOCK,))
    if report.changed or report.skipped:
        log.info("partitions: %s", "; ".join(report.lines()))
    return report


def _advance_horizon(conn: psycopg.Connection[Any], table: str, today: date,
                     retention_days: int) -> datetime | None:
    """Record the new horizon first, so no reading of a day being dropped gets in again."""
    if retention_days > 0:
        row = conn.execute(ADVANCE_HORIZON, (table, horizon_for(today, retention_days)))
    else:  # retention off now; a horizon recorded earlier still holds
        row = conn.execute(HORIZON, (table,))
    found = row.fetchone()
    return found[0] if found else None


def _create(conn: psycopg.Connection[Any], table: str, today: date, ahead_days: int,
            behind_days: int, horizon: datetime | None) -> list[str]:
    created = []
    for offset in range(-behind_days, ahead_days + 1):
        day = today + timedelta(days=offset)
        if horizon is not None and datetime.combine(day + timedelta(days=1), time(),
                                                    tzinfo=UTC) <= horizon:
            continue
        with conn.transaction():
            row = conn.execute(ENSURE_DAY, (table, day)).fetchone()
        if row and row[0]:
            created.append(partition_name(table, day))
    return created


def _drop_before(conn: psycopg.Connection[Any], table: str,
                 horizon: datetime) -> tuple[list[str], list[str]]:
    pattern = f"^{re.escape(table)}_p[0-9]{{8}}$"
    names = [r[0] for r in conn.execute(DAILY_PARTITIONS, (table, pattern))]
    dropped, skipped = [], []
    for name in names:
        day = datetime.strptime(name[-8:], "%Y%m%d").replace(tzinfo=UTC)
        if day + timedelta(days=1) > horizon:
            continue
        try:
            with conn.transaction():
                conn.execute(DROP_LOCK_TIMEOUT)
                conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                    sql.Identifier(table), sql.Identifier(name)))
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
        except psycopg.errors.LockNotAvailable:
            log.warning("partitions: %s is busy; dropping it on the next run", name)
            skipped.append(name)
            continue
        dropped.append(name)
    return dropped, skipped


def _delete_default_before(conn: psycopg.Connection[Any], table: str, horizon: datetime,
                           batch: int) -> int:
    """Old rows in the default partition, deleted in short transactions."""
    statement = sql.SQL(DELETE_DEFAULT_BATCH).format(
        default=sql.Identifier(f"{table}_default"))
    deleted = 0
    while True:
        n = conn.execute(statement, (horizon, batch)).rowcount
        deleted += max(n, 0)
        if n < batch:
            return deleted
