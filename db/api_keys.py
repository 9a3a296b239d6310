"""The API keys' table: made, listed and revoked by ``energy-ingest keys``, read by every HTTP
server (the gateway and the workers) into a ``KeyRing`` it refreshes (``KeyStore``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from processor.domain.api_keys import (
    ALLOW,
    KeyRing,
    NewKey,
    Scope,
    StoredKey,
    Verdict,
    credential,
    judge,
    key_id_of,
    required_scope,
)

log = logging.getLogger(__name__)

INSERT = "INSERT INTO api_keys (key_id, name, scopes, digest) VALUES (%s, %s, %s, %s)"
LIST = ("SELECT key_id, name, scopes, created_at, revoked_at FROM api_keys "
        "ORDER BY created_at, key_id")
REVOKE = ("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL "
          "RETURNING key_id")
ACTIVE = "SELECT key_id, digest, scopes FROM api_keys WHERE revoked_at IS NULL"
COUNT_ACTIVE = "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL"
MISSING_KEPT = 10_000  # ids remembered as missing, at most


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def insert_key(dsn: str, key: NewKey, scopes: Sequence[Scope], name: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(INSERT, (key.key_id, name, list(scopes), key.digest))


def list_keys(dsn: str) -> list[KeyInfo]:
    with psycopg.connect(dsn) as conn:
        return [KeyInfo(r[0], r[1], tuple(r[2]), r[3], r[4]) for r in conn.execute(LIST)]


def revoke_key(dsn: str, key_id: str) -> bool:
    """True when an active key was revoked now."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(REVOKE, (key_id,)).fetchone() is not None


def count_active(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(COUNT_ACTIVE).fetchone()
        return int(row[0]) if row else 0


async def active_keys(dsn: str, timeout: float, key_id: str | None = None) -> list[StoredKey]:
    """Every active key, or the one of ``key_id`` if it is active."""
    sql, params = (ACTIVE, ()) if key_id is None else (ACTIVE + " AND key_id = %s", (key_id,))
    async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=max(1, int(timeout)),
                                                     autocommit=True) as conn:
        cur = await conn.execute(sql, params)  # type: ignore[arg-type]
        rows = await cur.fetchall()
    return [StoredKey(r[0], bytes(r[1]), frozenset(r[2])) for r in rows]


class KeyStore:
    """The active keys of one process, read again every ``refresh`` seconds; a key made since
    is looked up when a request first brings it, so it works as soon as it is made. A revoked
    key works until the next reading: ``refresh`` seconds at most. While PostgreSQL is away the
    last keys read stay in force; before any could be read, requests that need a key are
    refused (the reading is tried again at most once a second)."""

    TIMEOUT = 5.0

    def __init__(self, dsn: str, refresh: float) -> None:
        self.dsn = dsn
        self.refresh = refresh
        self.ring = KeyRing()
        self.loaded = False  # whether one reading succeeded
        self.error = ""  # why the last reading failed
        self._missing: set[str] = set()  # ids looked up and not found since the last reading
        self._failed_at = -1.0  # time.monotonic() of the last failed reading
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        """Read the active keys again (the last ones read stay in force if that fails)."""
        async with self._lock:
            try:
                ring = KeyRing(await active_keys(self.dsn, self.TIMEOUT))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                if reason != self.error:
                    log.warning("API keys: cannot read them from PostgreSQL (%s); the last "
                                "ones read stay in force", reason)
                self.error = reason
                self._failed_at = time.monotonic()
                return
            if self.error:
                log.info("API keys: read again from PostgreSQL")
            self.ring, self.loaded, self.error = ring, True, ""
            self._missing.clear()

    async def current(self, token: str | None) -> KeyRing | None:
        """The keys to judge a request carrying ``token`` by; None while none could be read.
        A well-formed key of an id not read yet is looked up by itself (one indexed row), and
        an id found missing is not looked up again until the next reading of every key."""
        if not self.loaded:
            if time.monotonic() - self._failed_at >= 1.0:
                await self.read()
        elif token is not None and not self.ring.knows(token):
            key_id = key_id_of(token)
            if key_id is not None and key_id not in self._missing:
                await self.look_up(key_id)
        return self.ring if self.loaded else None

    async def verdict(self, bind_public: bool, read_auth: bool, method: str, path: str,
                      query: str, headers: Mapping[str, str]) -> Verdict:
        """Whether a request may go on, by the keys as they are now (``judge`` of
        processor/domain/api_keys.py); ``headers``: lower-case names."""
        if required_scope(method, path) is None:
            return ALLOW
        found = credential(headers)
        ring = await self.current(found.token if found else None)
        return judge(ring, bind_public, read_auth, method, path, query, headers, found)

    async def look_up(self, key_id: str) -> None:
        try:
            found = next(iter(await active_keys(self.dsn, self.TIMEOUT, key_id)), None)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("API keys: cannot look key %s up in PostgreSQL (%s)", key_id, exc)
            return
        if found is None:
            if len(self._missing) >= MISSING_KEPT:
                self._missing.clear()
            self._missing.add(key_id)
        else:
            self.ring = self.ring.with_key(found)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Keep reading in ``loop`` (default: the running one), once started; the first
        reading is the caller's to await."""
        if self._task is not None:
            return

        async def refresh() -> None:
            while True:
                await asyncio.sleep(self.refresh)
                await self.read()

        self._task = (loop or asyncio.get_running_loop()).create_task(
            refresh(), name="api-keys-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

