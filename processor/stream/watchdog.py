"""A stalled agent is seen: the watchdog's timer.

An agent with records waiting and no progress for ``STALL_SECONDS`` (judged by
``processor/domain/stalls.py``) is a hung statement, a deadlock, a Faust consumer that stopped
fetching (faust-streaming issues #175 and #640). The worker then answers ``/readyz`` with 503
naming the agent, logs it, and exits for redelivery, so ``up`` or the orchestrator restarts it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from processor.domain.stalls import check_interval
from processor.stream.checkpoint import exit_for_redelivery, guarded
from processor.stream.lag import consumer_lag
from processor.stream.offsets import partition_states
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)


def awaiting(coro: Any) -> list[str]:
    """The chain of awaits a coroutine is suspended in, outermost first (``Task.get_stack``
    gives only the outermost frame of a suspended coroutine); what it ends in names the rest
    (an async generator's ``asend``, a future)."""
    chain: list[str] = []
    obj: Any = coro
    while obj is not None:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} "
                         f"{frame.f_code.co_name}")
            obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
        elif getattr(obj, "it", None) is not None:  # a Faust actor wraps its coroutine
            obj = obj.it
        else:
            chain.append(type(obj).__name__)
            obj = None
    return chain


def agent_stacks(app: Any) -> list[str]:
    """Where each agent's coroutine waits, for the log of a stall."""
    lines = []
    for name, agent in app.agents.items():
        for actor in getattr(agent, "_actors", ()):
            lines.append(f"{name.rsplit('.', 1)[-1]}: {' > '.join(awaiting(actor.it))}")
    return lines


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
        for line in agent_stacks(app):
            log.critical("agent %s", line)
        # Long enough for a readiness probe to see the 503 that names the agent.
        await asyncio.sleep(check_interval(watchdog.stall_seconds) * 2)
        exit_for_redelivery(", ".join(s.agent for s in stalls), "stalled")
