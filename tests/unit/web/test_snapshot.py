"""The fleet snapshot: served stale while a fresh one is computed, but never one taken before
the writers' first write once they have written (the empty fleet right after ``make run``)."""

from __future__ import annotations

import asyncio
from typing import Any

from processor.web.snapshot import Snapshot


class Fleet:
    """What the database holds (the readings written so far) and the snapshots taken of it."""

    def __init__(self) -> None:
        self.rows = 0
        self.computed: list[int] = []
        self.gate: asyncio.Event | None = None  # set: a computation waits for it
        self.started = asyncio.Event()

    def written(self) -> int:
        return self.rows

    async def compute(self) -> int:
        rows = self.rows
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.computed.append(rows)
        return rows


def snapshot(fleet: Fleet, **options: Any) -> Snapshot:
    return Snapshot(60, fleet.compute, stale=600, written=fleet.written, **options)


def test_the_start_snapshot_is_not_served_once_the_writers_have_written() -> None:
    async def run() -> None:
        fleet = Fleet()
        s = snapshot(fleet)
        assert await s.get() == 0  # taken at start: nothing written yet
        fleet.rows = 288
        assert await s.get() == 288  # young, but known to be older than the data
        assert fleet.computed == [0, 288]

    asyncio.run(run())


def test_the_start_snapshot_is_served_while_nothing_is_written() -> None:
    async def run() -> None:
        fleet = Fleet()
        s = snapshot(fleet)
        assert [await s.get(), await s.get()] == [0, 0]
        assert fleet.computed == [0]

    asyncio.run(run())


def test_a_snapshot_taken_after_a_write_is_served_while_young_enough() -> None:
    async def run() -> None:
        fleet = Fleet()
        s = snapshot(fleet)
        fleet.rows = 10
        assert await s.get() == 10
        fleet.rows = 20  # more written: the snapshot is only stale, as it was designed to be
        assert await s.get() == 10
        assert fleet.computed == [10]

    asyncio.run(run())


def test_a_refresh_begun_before_the_first_write_is_followed_by_another() -> None:
    async def run() -> None:
        fleet = Fleet()
        fleet.gate = asyncio.Event()
        s = snapshot(fleet)
        first = asyncio.ensure_future(s.get())  # the worker's warm-up, computing
        await fleet.started.wait()
        fleet.rows = 5  # the writers write meanwhile
        request = asyncio.ensure_future(s.get())
        await asyncio.sleep(0)
        fleet.gate.set()
        assert await request == 5
        assert await first == 5
        assert fleet.computed == [0, 5]

    asyncio.run(run())


def test_an_outdated_snapshot_is_not_served_even_when_max_age_allows_it() -> None:
    async def run() -> None:
        fleet = Fleet()
        s = snapshot(fleet)
        await s.get()
        fleet.rows = 1
        assert await s.get(max_age=3600) == 1

    asyncio.run(run())


def test_without_a_writers_count_a_snapshot_is_served_by_its_age_alone() -> None:
    async def run() -> None:
        fleet = Fleet()
        s = Snapshot(60, fleet.compute, stale=600)
        await s.get()
        fleet.rows = 100
        assert await s.get() == 0
        assert await s.get(max_age=0) == 100

    asyncio.run(run())
