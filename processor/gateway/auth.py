"""API keys at the gateway: every request is judged (processor/domain/api_keys.py) before it
is served or forwarded; the workers judge what reaches them again, by the same keys.

The keys are the one thing the gateway reads from PostgreSQL (db/api_keys.py, refreshed every
API_KEYS_REFRESH_SECONDS in each process). Without DATABASE_URL there are no keys: the gateway
then serves loopback only, openly (the CLI refuses a public WEB_BIND without keys).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from db.api_keys import KeyStore
from processor.domain.api_keys import ALLOW, Verdict, credential, judge
from processor.settings import Settings

DRAIN_BYTES = 64_000_000  # as ingest: read a refused body so its client gets the answer
JSON = [("content-type", "application/json; charset=utf-8")]
CHALLENGE = ("www-authenticate", 'Bearer realm="energy-ingest"')


class Auth:
    def __init__(self, settings: Settings) -> None:
        self.bind_public = settings.bind_public
        self.read_auth = settings.read_auth
        dsn = settings.database_dsn
        self.store = KeyStore(dsn, settings.api_keys_refresh_seconds) if dsn else None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.store is not None:
            loop.run_until_complete(self.store.read())
            self.store.start(loop)

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.store is not None:
            loop.run_until_complete(self.store.stop())

    async def verdict(self, method: str, path: str, query: str, headers: Any) -> Verdict:
        if self.store is not None:
            return await self.store.verdict(self.bind_public, self.read_auth, method, path,
                                            query, headers)
        if not self.bind_public:
            return ALLOW  # no keys can exist: loopback stays open
        # beyond loopback without a database (the CLI refuses to start so): keys are unknown
        return judge(None, True, self.read_auth, method, path, query, headers,
                     credential(headers))

    async def refuse(self, protocol: Any, method: str, verdict: Verdict) -> int:
        if method not in ("GET", "HEAD"):
            size = 0
            async for part in protocol:
                size += len(part)
                if size > DRAIN_BYTES:
                    break
        if verdict.location:
            protocol.response_empty(verdict.status, [("location", verdict.location)])
        else:
            headers = [*JSON, CHALLENGE] if verdict.challenge else JSON
            protocol.response_bytes(verdict.status, headers,
                                    orjson.dumps({"error": verdict.error}))
        return verdict.status
