"""A result computed at most once per ``ttl`` seconds and shared by every request.

The fleet's 24-hour figures cost PostgreSQL a few seconds at 10,000 vehicles; the web view asks
for them every few seconds from every open page. A request takes the latest snapshot at once
while it is younger than ``ttl``; past half the ttl one background refresh starts, so readers
seldom wait. An older snapshot, up to ``stale`` seconds, is still served at once while a fresh
one is computed (stale-while-revalidate); past that, or when the caller sets ``max_age``, the
request waits for a snapshot young enough. Concurrent misses share one computation.

A snapshot known to be older than the data is never served, however young: one taken before
the writers had written anything, once they have (``written``). A worker takes its first
snapshot as it starts, before its writers wrote the readings waiting for them; served as
merely stale, that was an empty fleet for the first minute of ``make run`` (issue 32).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


class Snapshot:
    def __init__(self, ttl: float, compute: Callable[[], Awaitable[Any]],
                 stale: float | None = None, written: Callable[[], int] | None = None) -> None:
        """``written``: how much the data's writers have written so far, a count that only
        grows (a worker's rows inserted)."""
        self.ttl = ttl
        self.stale = ttl if stale is None else max(stale, ttl)
        self.compute = compute
        self.written = written
        self.value: Any = None
        self.taken = float("-inf")  # monotonic time the value was computed
        self.basis = 0  # written() when the value's computation started
        self._running: asyncio.Task[Any] | None = None

    def age(self) -> float:
        return time.monotonic() - self.taken

    def outdated(self) -> bool:
        """Whether the value was taken before the writers' first write, and they have written
        since. Once a snapshot was taken after it, never again (``written`` only grows)."""
        return self.basis == 0 and self.written is not None and self.written() > 0

    async def get(self, max_age: float | None = None) -> Any:
        """The latest value if young enough: at most ``max_age`` seconds old when given, else
        at most ``stale`` (refreshed in the background once older than half the ttl); never
        one that is ``outdated``."""
        limit = self.stale if max_age is None else max_age
        age = self.age()
        if age <= limit and not self.outdated():
            if age > self.ttl / 2:
                self._refresh()  # ahead of time, in the background
            return self.value
        value = await asyncio.shield(self._refresh())
        if self.outdated():  # that refresh had started before the first write: one more
            value = await asyncio.shield(self._refresh())
        return value

    def _refresh(self) -> asyncio.Task[Any]:
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run())
        return self._running

    async def _run(self) -> Any:
        started = time.monotonic()
        basis = self.written() if self.written is not None else 0
        value = await self.compute()
        if started >= self.taken:
            self.value, self.taken, self.basis = value, started, basis
        return value
