"""A result computed at most once per ``ttl`` seconds and shared by every request.

The fleet's 24-hour figures cost PostgreSQL a few seconds at 10,000 vehicles; the web view asks
for them every few seconds from every open page. A request takes the latest snapshot at once
while it is younger than ``ttl``; past half the ttl one background refresh starts, so readers
seldom wait. An older snapshot, up to ``stale`` seconds, is still served at once while a fresh
one is computed (stale-while-revalidate); past that, or when the caller sets ``max_age``, the
request waits for a snapshot young enough. Concurrent misses share one computation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


class Snapshot:
    def __init__(self, ttl: float, compute: Callable[[], Awaitable[Any]],
                 stale: float | None = None) -> None:
        self.ttl = ttl
        self.stale = ttl if stale is None else max(stale, ttl)
        self.compute = compute
        self.value: Any = None
        self.taken = float("-inf")  # monotonic time the value was computed
        self._running: asyncio.Task[Any] | None = None

    def age(self) -> float:
        return time.monotonic() - self.taken

    async def get(self, max_age: float | None = None) -> Any:
        """The latest value if young enough: at most ``max_age`` seconds old when given, else
        at most ``stale`` (refreshed in the background once older than half the ttl)."""
        limit = self.stale if max_age is None else max_age
        age = self.age()
        if age <= limit:
            if age > self.ttl / 2:
                self._refresh()  # ahead of time, in the background
            return self.value
        return await asyncio.shield(self._refresh())

    def _refresh(self) -> asyncio.Task[Any]:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run())
        return self._running

    async def _run(self) -> Any:
        started = time.monotonic()
        value = await self.compute()
        if started >= self.taken:
            self.value, self.taken = value, started
        return value
