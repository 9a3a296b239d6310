"""A stalled agent is seen: no progress while its topic has work waiting.

Each agent notes its progress (``progressed``: a batch checkpointed, or a sign of life such as
a writer's retry while PostgreSQL is down). A worker whose agent holds records it does not
process (consumer lag above zero on the agent's topic) and has made no progress for
``STALL_SECONDS`` is stalled: a hung statement, a deadlock, a Faust consumer that stopped
fetching (faust-streaming issues #175 and #640). The watchdog then marks the worker not ready
(``/readyz`` names the agent), logs it, and exits for redelivery so ``up`` or the orchestrator
restarts it.

Judging is pure (``stalled``); the timer that feeds it the lags lives in ``register``. A
rebalance or table recovery pauses every agent by design, so it restarts the clocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from processor.app import Pipeline

log = logging.getLogger(__name__)


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
    return max(0.25, min(5.0, stall_seconds / 4))


def register(p: Pipeline) -> None:
    from processor.checkpoint import exit_for_redelivery, guarded
    from processor.lag import consumer_lag

    watchdog = p.watchdog
    app = p.app

    @app.timer(interval=check_interval(watchdog.stall_seconds))
    @guarded("stall watchdog")
    async def watch_agents() -> None:
        if app.rebalancing or app.in_recovery:
            watchdog.restart_clocks()
            return
        if not watchdog.idle_too_long():
            watchdog.stalls = []
            return
        try:
            lags = await consumer_lag(p)
        except Exception as exc:  # noqa: BLE001 - no lag this time: judged at the next tick
            log.warning("stall watchdog: consumer lag unavailable: %s", exc)
            return
        stalls = watchdog.stalled(lags)
        if not stalls:
            return
        for stall in stalls:
            log.critical("stalled: %s", stall.describe())
        # Long enough for a readiness probe to see the 503 that names the agent.
        await asyncio.sleep(check_interval(watchdog.stall_seconds) * 2)
        exit_for_redelivery(", ".join(s.agent for s in stalls), "stalled")
