"""When is an agent stalled? When records have waited for it for ``stall_seconds`` and it made
no progress in that time: the watchdog's judgement, pure.

Each agent notes its progress (``progressed``: a batch checkpointed, or a sign of life such as
a writer's retry while PostgreSQL is down). The timer (``processor/stream/watchdog.py``) feeds
the consumer lag at every look; an agent is stalled once its topic has had records waiting
(lag above zero) at every look for ``stall_seconds`` with no progress since the first of them.
Not merely "late with work waiting": an agent idle for minutes, then handed a burst, is late
and has work waiting at the first look after the burst, and was judged stalled there, seconds
before its first checkpoint; the worker then exited, restarted by the test suite's supervisor
(the "stalls" of the suite: a healthy worker killed by its own watchdog). A rebalance or a
table recovery pauses every agent by design, so it restarts the clocks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Stall:
    agent: str
    topic: str
    seconds: float  # since its last progress
    waiting: int  # records on its topic not yet committed
    waited: float = 0.0  # how long records have waited for it, at every look

    def describe(self) -> str:
        return (f"agent {self.agent} has made no progress for {self.seconds:.0f}s while "
                f"{self.waiting} records wait on {self.topic} (waiting for {self.waited:.0f}s)")


class Watchdog:
    def __init__(self, agents: Mapping[str, str], stall_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.topics = dict(agents)  # agent name -> the topic it consumes
        self.stall_seconds = stall_seconds
        self.clock = clock
        self.last: dict[str, float] = dict.fromkeys(agents, clock())
        self.stalls: list[Stall] = []  # what the last judgement found (for /readyz)
        # agents inside a batch (between its take and its acks), with how many batches: an
        # agent works on its next batch while the last one's checkpoint is still in flight
        self.busy: dict[str, int] = {}
        # agents waiting on a permanent condition of what they write to, and its cause: not
        # a stall (restarting would not help), not fine either (/readyz says so)
        self.conditions: dict[str, str] = {}
        # agent -> when a look first found records waiting for it, since its last progress
        self.waiting_since: dict[str, float] = {}

    def began(self, agent: str) -> None:
        """``agent`` took a batch: records it was handed may wait on it until it acks them."""
        self.busy[agent] = self.busy.get(agent, 0) + 1

    def progressed(self, agent: str) -> None:
        self.last[agent] = self.clock()

    def degraded(self, agent: str, cause: str | None) -> None:
        """``agent`` waits on a permanent condition (``cause``), or no more (None)."""
        if cause is None:
            self.conditions.pop(agent, None)
        else:
            self.conditions[agent] = cause
        self.progressed(agent)

    def finished(self, agent: str) -> None:
        """``agent`` acked a batch (``checkpoint``)."""
        left = self.busy.get(agent, 0) - 1
        if left > 0:
            self.busy[agent] = left
        else:
            self.busy.pop(agent, None)
        self.progressed(agent)

    def restart_clocks(self) -> None:
        """After a rebalance or recovery: nobody could progress, nobody is late."""
        now = self.clock()
        for agent in self.last:
            self.last[agent] = now
        self.waiting_since.clear()

    def stalled(self, lags: Mapping[tuple[str, int], int]) -> list[Stall]:
        """A look at the lags: the agents whose records have waited ``stall_seconds`` (at
        every look since the first that saw them) with no progress in that time."""
        now = self.clock()
        waiting: dict[str, int] = {}
        for (topic, _partition), lag in lags.items():
            waiting[topic] = waiting.get(topic, 0) + lag
        stalls = []
        for agent, topic in self.topics.items():
            if waiting.get(topic, 0) <= 0 or agent in self.conditions:
                self.waiting_since.pop(agent, None)
                continue
            since = self.waiting_since.get(agent)
            if since is None or since < self.last[agent]:  # new, or progressed since: moving
                self.waiting_since[agent] = now
                continue
            if now - since >= self.stall_seconds:
                stalls.append(Stall(agent, topic, now - self.last[agent], waiting[topic],
                                    now - since))
        self.stalls = stalls
        return stalls


def check_interval(stall_seconds: float) -> float:
    """How often the watchdog looks: often enough for short limits, rarely for long ones."""
    return max(0.25, min(5.0, stall_seconds / 4))


@dataclass(frozen=True)
class Offsets:
    """One partition as the consumer sees it: the offset committed (the next to process), the
    last one handed to a stream, and the end its last fetch reported."""
    committed: int | None
    read: int | None
    end: int | None
    acked_from: int | None = None  # the lowest offset acked and not committed yet
    next_record: int | None = None  # from the commit on, past offsets known to hold no record

    @property
    def waiting(self) -> bool:
        """Records past the commit: handed over and not acked yet, or not handed over yet."""
        if self.committed is None or self.end is None:
            return False
        return self.end > max(self.committed, self.next_record or 0)

    @property
    def hole(self) -> bool:
        """Later records acked while the one at the commit is not: the commit waits for it
        (processor/stream/faust_fixes.py, 4), and agents ack each partition's records in
        order, so it was lost on the way to its agent."""
        return (self.committed is not None and self.acked_from is not None
                and self.acked_from > self.committed)


class LostRecords:
    """Records the consumer has and no agent will ever process: a partition with records past
    its commit whose offsets stay exactly where they are for ``after`` seconds while its agent
    is idle (no batch in hand). An idle agent is handed what was fetched within its take's
    flush time, and what it acks is committed within a second; so a partition that stays put
    that long holds records Faust lost between its fetch and the agent (fetched and never
    handed over, or handed over and never taken into a batch). They are redelivered from the
    commit (idempotent sinks make a second delivery harmless), without waiting for the stall
    watchdog to end the worker.

    A partition whose commit waits at a ``hole`` for ``after`` seconds is redelivered too,
    busy agent or not: under steady input its offsets never stay put, and the commit would
    wait for the missing record until the input paused.
    """

    def __init__(self, after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.after = after
        self.clock = clock
        self.since: dict[Any, tuple[Offsets, float]] = {}  # partition -> (offsets, since when)
        self.holes: dict[Any, tuple[int, float]] = {}  # partition -> (commit, since when)

    def reset(self) -> None:
        """A new assignment: nothing is judged on what an earlier one saw."""
        self.since.clear()
        self.holes.clear()

    def observe(self, partitions: Mapping[Any, Offsets],
                idle: Callable[[Any], bool]) -> list[tuple[Any, int]]:
        """The partitions to redeliver, with the offset to redeliver from (the commit).
        ``partitions``: every partition whose agent is fetching it now; ``idle(partition)``:
        whether its agent holds no batch."""
        now = self.clock()
        lost = []
        for tp in list(self.since):
            if tp not in partitions:
                del self.since[tp]
        for tp in list(self.holes):
            if tp not in partitions or not partitions[tp].hole:
                del self.holes[tp]
        for tp, offsets in partitions.items():
            if offsets.hole:
                assert offsets.committed is not None  # a hole
                hole = self.holes.get(tp)
                if hole is None or hole[0] != offsets.committed:
                    self.holes[tp] = (offsets.committed, now)
                elif now - hole[1] >= self.after:
                    lost.append((tp, offsets.committed))
                    self.holes[tp] = (offsets.committed, now)
                    self.since.pop(tp, None)
                    continue
            seen = self.since.get(tp)
            if not offsets.waiting or not idle(tp):
                self.since.pop(tp, None)
            elif seen is None or seen[0] != offsets:
                self.since[tp] = (offsets, now)
            elif now - seen[1] >= self.after:
                assert offsets.committed is not None  # waiting
                lost.append((tp, offsets.committed))
                self.since[tp] = (offsets, now)  # judged again only ``after`` later
        return lost
