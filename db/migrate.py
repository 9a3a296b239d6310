"""Versioned migrations (``db/migrations/NNNN_*.sql``) and daily history partitions."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import psycopg

from processor.domain.kinds import KINDS

log = logging.getLogger(__name__)

HISTORY_TABLES = tuple(kind.history_table for kind in KINDS.values())
MIGRATION_LOCK = 7_245_001  # advisory lock: two processes migrating at once take turns

CREATE_VERSIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) in order; the version is the file name without ``.sql``."""
    folder = resources.files("db") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


def migrate(dsn: str, ahead_days: int = 7, behind_days: int = 7) -> list[str]:
    """Apply the migrations not yet applied, then make sure daily partitions exist.

    Returns the versions applied now; running it again applies nothing and is harmless.
    """
    applied_now = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            conn.execute(CREATE_VERSIONS)
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)  # type: ignore[arg-type]
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)",
                                 (version,))
                log.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    ensure_partitions(dsn, ahead_days, behind_days)
    return applied_now


def ensure_partitions(dsn: str, ahead_days: int, behind_days: int,
                      today: date | None = None) -> int:
    """Create the daily history partitions from ``behind_days`` ago to ``ahead_days`` on."""
    today = today or datetime.now(UTC).date()
    created = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in HISTORY_TABLES:
            for offset in range(-behind_days, ahead_days + 1):
                day = today + timedelta(days=offset)
                with conn.transaction():
                    row = conn.execute("SELECT energy_ensure_day_partition(%s, %s)",
                                       (table, day)).fetchone()
                created += bool(row and row[0])
    if created:
        log.info("created %d daily history partitions", created)
    return created
