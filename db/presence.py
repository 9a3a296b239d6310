"""Which workers of an application are running, as PostgreSQL sees them: each holds a shared
advisory lock of its application for as long as it runs, on a connection named after it.

``energy-ingest rebuild`` recomputes the live rows and rollups the writers add to; beside
running writers a batch could be counted twice or not at all. So it asks for the same lock
exclusively: it gets it only when no worker holds it, names the workers when it does not, and
holds it while it runs. The lock goes with its connection: a worker that dies (even killed)
is gone from it at once. (The consumer group would say the same on Apache Kafka, but the
embedded broker answers a group description without its members.)
"""

from __future__ import annotations

from typing import Any

import psycopg

# The advisory lock's first key: this system's locks, apart from other users of the database
# (the second key is the application id's hash). db/partitions.py uses a single-key lock.
PRESENCE = 0x656E6572  # "ener"
HOLDERS = """
SELECT coalesce(nullif(a.application_name, ''), 'pid ' || a.pid)
       || coalesce(' (' || host(a.client_addr) || ')', '')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid::bigint = %s::bigint
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.objid::bigint = (hashtext(%s)::bigint & 4294967295) AND l.granted
  AND l.pid <> pg_backend_pid()
ORDER BY 1"""


def application_name(what: str) -> str:
    """A connection's name as ``pg_stat_activity`` shows it (at most 63 bytes)."""
    return what.encode()[:63].decode(errors="ignore")


async def announce(dsn: str, app_id: str, name: str) -> psycopg.AsyncConnection[Any] | None:
    """A connection holding ``app_id``'s presence lock, shared with the other workers, named
    ``name``; None while a rebuild holds it."""
    conn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, application_name=application_name(name))
    row = await (await conn.execute("SELECT pg_try_advisory_lock_shared(%s, hashtext(%s))",
                                    (PRESENCE, app_id))).fetchone()
    if row and row[0]:
        return conn
    await conn.close()
    return None


def holders(conn: psycopg.Connection[Any], app_id: str) -> list[str]:
    """Who holds ``app_id``'s presence lock, besides ``conn``."""
    return [r[0] for r in conn.execute(HOLDERS, (PRESENCE, app_id)).fetchall()]


def take_exclusively(conn: psycopg.Connection[Any], app_id: str) -> list[str]:
    """Take ``app_id``'s presence lock alone (held until ``conn`` closes); the workers holding
    it when it cannot be taken, else an empty list."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                       (PRESENCE, app_id)).fetchone()
    if row and row[0]:
        return []
    return holders(conn, app_id) or ["a worker that just left"]
