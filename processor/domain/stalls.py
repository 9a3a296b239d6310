"""When is an agent stalled? Late, and with work waiting: the watchdog's judgement, pure.

Each agent notes its progress (``progressed``: a batch checkpointed, or a sign of life such as
a writer's retry while PostgreSQL is down). An agent whose topic has records waiting (consumer
lag above zero) and that made no progress for ``stall_seconds`` is stalled. A rebalance or a
table recovery pauses every agent by design, so it restarts the clocks. The timer that feeds it
the lags and acts on a stall is ``processor/stream/watchdog.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Stall:
    agent: str
    topic: str
    seconds: float  # since its last progress
    waiting: int  # records on its topic not yet committed

    def describe(self) -> str:
        return (f"agent {self.agent} has made no progress for {self.seconds:.0f}s while "
                f"{self.waiting} records wait on {self.topic}")


class Watchdog:
    def __init__(self, agents: Mapping[str, str], stall_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.topics = dict(agents)  # agent name -> the topic it consumes
        self.stall_seconds = stall_seconds
        self.clock = clock
        self.last: dict[str, float] = dict.fromkeys(agents, clock())
        self.stalls: list[Stall] = []  # what the last judgement found (for /readyz)

    def progressed(self, agent: str) -> None:
        self.last[agent] = self.clock()

    def restart_clocks(self) -> None:
        """After a rebalance or recovery: nobody could progress, nobody is late."""
        now = self.clock()
        for agent in self.last:
            self.last[agent] = now

    def idle_too_long(self) -> list[str]:
        """Agents without progress for ``stall_seconds`` (lags are only asked for these)."""
        now = self.clock()
        return [a for a, t in self.last.items() if now - t >= self.stall_seconds]

    def stalled(self, lags: Mapping[tuple[str, int], int]) -> list[Stall]:
        """The agents that are late and have records waiting on their topic."""
        now = self.clock()
        waiting: dict[str, int] = {}
        for (topic, _partition), lag in lags.items():
            waiting[topic] = waiting.get(topic, 0) + lag
        self.stalls = [Stall(agent, self.topics[agent], now - self.last[agent],
                             waiting[self.topics[agent]])
                       for agent in self.idle_too_long()
                       if waiting.get(self.topics[agent], 0) > 0]
        return self.stalls


def check_interval(stall_seconds: float) -> float:
    """How often the watchdog looks: often enough for short limits, rarely for long ones."""
    return max(0.25, min(5.0, stall_seconds / 4))
