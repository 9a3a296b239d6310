"""What the HTTP views share in a worker: a PostgreSQL pool and the HTTP publisher.

Both are made on first use, inside the running event loop, so building the app (and the unit
tests that do) opens no connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool

from processor.kafka.publisher import Publisher
from processor.settings import Settings

DB_TIMEOUT = 5.0  # seconds a view waits for a connection before answering 503


@dataclass
class Resources:
    settings: Settings
    dsn: str
    bootstrap: str
    publisher: Publisher = field(init=False)
    _pool: AsyncConnectionPool[Any] | None = field(default=None, init=False)
    _lock: asyncio.Lock | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.bootstrap, self.settings.http_publish_timeout)

    async def pool(self) -> AsyncConnectionPool[Any]:
        if self._pool is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._pool is None:
                    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                        self.dsn, min_size=1, max_size=4, timeout=DB_TIMEOUT, open=False,
                        kwargs={"options": "-c TimeZone=UTC", "connect_timeout": 5},
                        name="web",
                    )
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool
