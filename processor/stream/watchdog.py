"""A stalled agent is seen: the watchdog's timers.

A guard: records the consumer holds and no agent will process (``LostRecords`` in
``processor/domain/stalls.py``: a partition with records past its commit that stays put while
its agent is idle) are fetched again from the commit, in place, and
``energy_redelivered_partitions_total`` counts it. Its known cause is gone (Faust emptied the
agents' queues after resuming the stream partitions: processor/stream/faust_fixes.py), and
commits on the routed topics no longer pass a record that was not acked; the guard stays for
what is not known, and the metric must read 0 (the suite and the chaos soak check it).

A stall: records that waited for an agent through every look for ``STALL_SECONDS`` with no
progress in that time (``Watchdog.stalled``): a hung statement, a deadlock, a Faust consumer
that stopped fetching (faust-streaming issues #175 and #640). The worker then answers
``/readyz`` with 503 naming the agent and logs it; if the agent still made no progress after a
grace of two looks, it exits for redelivery, so ``up`` or the orchestrator restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from processor.domain.stalls import LostRecords, Offsets, check_interval
from processor.stream import metrics
from processor.stream.checkpoint import TRANSIENT, exit_for_redelivery, timer_guarded
from processor.stream.faust_fixes import next_record
from processor.stream.lag import LAG_TIMEOUT, consumer_lag
from processor.stream.offsets import (
    committed_offsets,
    or_start,
    partition_states,
    read_offsets,
)
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)


def where(frame: Any) -> str:
    return f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"


def awaiting(coro: Any) -> list[str]:
    """The chain of awaits a coroutine is suspended in, outermost first (``Task.get_stack``
    gives only the outermost frame of a suspended coroutine); what it ends in names the rest
    (an async generator's ``asend``, a future)."""
    chain: list[str] = []
    obj: Any = coro
    while obj is not None:
        frame = (getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
                 or getattr(obj, "ag_frame", None))
        if frame is not None:
            chain.append(where(frame))
            obj = (getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
                   or getattr(obj, "ag_await", None))
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


def task_stacks() -> list[str]:
    """Where every task of the loop waits (the consumer's fetcher among them: a stall with
    records fetched and not handed over is decided there), for the log of a stall."""
    lines = []
    for task in asyncio.all_tasks():
        chain = awaiting(task.get_coro())
        if chain:
            lines.append(" > ".join(chain))
    return sorted(lines)


# Each agent's stream take (the async generator its batches come from), registered by the
# agent itself (``watch_take``): the stall log reads their state without searching the heap.
TAKES: dict[str, Any] = {}


def watch_take(agent: str, take: Any) -> Any:
    """Register ``agent``'s take for the stall log; returns it."""
    TAKES[agent] = take
    return take


def take_states() -> list[str]:
    """The state of every agent's stream take (its buffer and its events), and where each
    take waits: a stall whose records were handed to an agent and never came out of its take
    is decided there."""
    lines = []
    for agent, take in sorted(TAKES.items()):
        frame = getattr(take, "ag_frame", None)
        if frame is None:
            lines.append(f"{agent}: not running")
            continue
        local = frame.f_locals
        state = {k: (len(v) if isinstance(v, list) else v.is_set() if hasattr(v, "is_set")
                     else v) for k, v in local.items()
                 if k in ("buffer", "events", "buffer_full", "buffer_consumed",
                          "buffer_consuming")}
        lines.append(f"{agent}: {frame.f_code.co_name}:{frame.f_lineno} {state} "
                     f"awaiting {' > '.join(awaiting(take)[1:])}")
    return lines


def unacked(app: Any, topic: str) -> str:
    """The messages of ``topic`` the consumer handed over and that are not acked yet, with
    their reference counts (a message is acked when every channel it went to acked it), and
    the channels the conductor delivers the topic to, with their queues."""
    messages = sorted((m.partition, m.offset, m.refcount) for m in
                      list(getattr(app.consumer, "_unacked_messages", ())) if m.topic == topic)
    index = getattr(app.topics, "_tp_index", {})
    channels = {f"{type(c).__name__}@{id(c):x} queue {c.queue.qsize()}"
                for tp, subscribed in list(index.items()) if tp.topic == topic
                for c in subscribed}
    return f"channels {sorted(channels)}; unacked (partition, offset, refcount): {messages[:20]}"


def thread_stacks() -> list[str]:
    """Where every other thread of the process is (librdkafka calls made through
    ``asyncio.to_thread``, the consumer's thread), innermost frames last."""
    lines = []
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        if ident == threading.get_ident():
            continue
        frames: list[str] = []
        f: Any = frame
        while f is not None and len(frames) < 8:
            frames.append(where(f))
            f = f.f_back
        lines.append(f"{names.get(ident, ident)}: {' < '.join(frames)}")
    return lines


def flow_state(app: Any) -> str:
    """The consumer's flow control and the agents' stream buffers, for the log of a stall."""
    consumer = app.consumer
    queues = ", ".join(
        f"{name.rsplit('.', 1)[-1]} {agent.channel.queue.qsize()}"
        for name, agent in app.agents.items() if getattr(agent, "channel", None) is not None)
    return (f"consumer flow {'active' if consumer.flow_active else 'stopped'}, app flow "
            f"{'active' if app.flow_control.is_active() else 'suspended'}, paused "
            f"{sorted(map(str, consumer._paused_partitions))}, buffer full "
            f"{sorted(map(str, consumer._buffered_partitions))}; queued: {queues}")


# Longer than an idle agent's take waits (ROUTER/WRITER_FLUSH_SECONDS) plus Faust's commit
# interval (1 s), and than the consumer leaves a partition out of its round of fetches.
LOST_AFTER = 15.0


async def fetched_offsets(app: Any, topics: dict[str, str],
                          starts: dict[Any, int]) -> dict[Any, Offsets]:
    """The assigned partitions of the agents' topics that the consumer is fetching now (not
    paused, not held back by a full buffer or the router gate), with their offsets; the end
    is the high watermark of the partition's last fetch (the consumer's own: no request). A
    partition nothing was committed for yet counts from its start (asked of the broker once
    per assignment and kept in ``starts``)."""
    consumer = app.consumer
    active = getattr(consumer, "_active_partitions", None)
    wanted = set(topics.values())
    tps = [tp for tp in consumer.assignment()
           if tp.topic in wanted and (active is None or tp in active)]
    committed = await or_start(consumer, committed_offsets(consumer), tps, LAG_TIMEOUT, starts)
    read = read_offsets(consumer)
    acked = getattr(consumer, "_acked", {})
    return {tp: Offsets(committed.get(tp), read.get(tp), consumer.highwater(tp),
                        min(acked[tp]) if acked.get(tp) else None,
                        next_record(consumer, tp, at) if (at := committed.get(tp)) is not None
                        else None)
            for tp in tps}


def forget_unacked(consumer: Any, tp: Any, offset: int) -> None:
    """Drop the consumer's record of the messages of ``tp`` from ``offset`` on, handed over and
    never acked: they are fetched again, and Faust would otherwise wait for them to be acked
    when the worker stops."""
    unacked = getattr(consumer, "_unacked_messages", None)
    if unacked is not None:
        for message in [m for m in list(unacked) if m.tp == tp and m.offset >= offset]:
            unacked.discard(message)


def register(p: Pipeline) -> None:
    watchdog = p.watchdog
    app = p.app
    lost = LostRecords(LOST_AFTER)
    starts: dict[Any, int] = {}  # partitions' first offsets, asked once per assignment
    p.on_assignment.append(lost.reset)
    p.on_assignment.append(starts.clear)
    agent_of = {topic: agent for agent, topic in watchdog.topics.items()}

    @app.timer(interval=1.0)
    @timer_guarded("lost records")
    async def redeliver_lost() -> None:
        consumer = app.consumer
        if app.rebalancing or app.in_recovery or not getattr(consumer, "flow_active", True):
            lost.reset()
            return
        try:
            offsets = await fetched_offsets(app, watchdog.topics, starts)
        except TRANSIENT as exc:  # judged again at the next tick
            log.debug("lost records: offsets unavailable: %s", exc)
            return
        found = lost.observe(offsets, idle=lambda tp: agent_of[tp.topic] not in watchdog.busy)
        for tp, offset in found:
            log.warning("%s: %s p%d has records from offset %d on (%s) that the consumer "
                        "holds and its idle agent never got; fetching them again from %d",
                        agent_of[tp.topic], tp.topic, tp.partition, offset, offsets[tp], offset)
            log.warning("%s: %s", tp.topic, unacked(app, tp.topic))
            for line in take_states():
                log.warning("take %s", line)
            await consumer.seek(tp, offset)
            forget_unacked(consumer, tp, offset)
            metrics.REDELIVERED.labels(tp.topic).inc()

    @app.timer(interval=check_interval(watchdog.stall_seconds))
    @timer_guarded("stall watchdog")
    async def watch_agents() -> None:
        if app.rebalancing or app.in_recovery:
            watchdog.restart_clocks()
            return
        try:  # at every look: a stall is records that waited through looks for stall_seconds
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
        try:
            log.critical("flow: %s", flow_state(app))
            for topic in sorted(set(watchdog.topics.values())):
                log.critical("%s: %s", topic, unacked(app, topic))
            for line in take_states():
                log.critical("take %s", line)
            for line in thread_stacks():
                log.critical("thread %s", line)
            for line in task_stacks():
                log.critical("task %s", line)
        except Exception as exc:  # noqa: BLE001 - a diagnostic: never in the way of the exit
            log.critical("stall diagnostics failed: %r", exc)
        # Long enough for a readiness probe to see the 503 that names the agent; then only an
        # agent that is still stuck (no progress meanwhile) ends the worker.
        await asyncio.sleep(check_interval(watchdog.stall_seconds) * 2)
        still = [s for s in stalls if watchdog.last[s.agent] <= watchdog.clock() - (
            check_interval(watchdog.stall_seconds) * 2)]
        if not still:
            log.warning("stall watchdog: %s made progress since; not stalled after all",
                        ", ".join(s.agent for s in stalls))
            watchdog.stalls = []
            return
        exit_for_redelivery(", ".join(s.agent for s in still), "stalled")
