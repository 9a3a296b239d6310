"""A stalled agent is seen: the watchdog's timer.

An agent with records waiting and no progress for ``STALL_SECONDS`` (judged by
``processor/domain/stalls.py``) is a hung statement, a deadlock, a Faust consumer that stopped
fetching (faust-streaming issues #175 and #640). The worker then answers ``/readyz`` with 503
naming the agent, logs it, and exits for redelivery, so ``up`` or the orchestrator restarts it.
"""

from __future__ import annotations

import asyncio
import logging

from processor.domain.stalls import check_interval
from processor.stream.checkpoint import exit_for_redelivery, guarded
from processor.stream.lag import consumer_lag
from processor.stream.offsets import partition_states
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)


def register(p: Pipeline) -> None:
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
            log.critical("%s's partitions: %s", stall.topic,
                         await partition_states(app.consumer, stall.topic))
        # Long enough for a readiness probe to see the 503 that names the agent.
        await asyncio.sleep(check_interval(watchdog.stall_seconds) * 2)
        exit_for_redelivery(", ".join(s.agent for s in stalls), "stalled")
