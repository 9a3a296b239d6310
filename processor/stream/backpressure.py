"""The router waits for the writers: ``telemetry.raw`` is paused while the routed records
waiting for this worker's writers are more than ``ROUTER_PAUSE_LAG`` (judged by
``processor/domain/backpressure.py``).

The router and the writers share one Faust consumer, which hands its agents one fetch at a time
(at most ``BROKER_MAX_POLL_RECORDS`` records), record by record. The raw partitions are held
back with the flow control Faust itself applies when an agent's buffer is full
(``Consumer.on_buffer_full`` / ``on_buffer_drop``): they leave the next fetches, the records
already in hand are still delivered, and what the consumer fetched ahead for them waits there
until they come back. So the writers get the consumer to themselves until they have caught up,
and nothing is skipped or acked by a pause: the router simply gets no new messages.

Not ``Consumer.pause_partitions``: Faust's delivery loop drops the records of a fetch in hand
whose partition is paused meanwhile, and then takes the hole for an offset gap it acks; measured
here, 1,738 of 120,000 readings were committed past and lost (tests/unit/stream/
test_backpressure.py pins the difference).

The lag is this worker's own view: for each routed partition assigned to it, the end offset the
broker reports minus the next offset the consumer would hand to its writer, i.e. the routed
records not yet delivered to the writers (the starved part: what they were handed they write
within a flush). Counting from the commits instead held the router back for every commit
interval (a second): measured, 15-25% slower on batches for nothing. With several
workers each one pauses its own raw partitions while its own writers are behind; a worker's
writers never wait for its router, so a pause always ends once they have written.

- A rebalance: Faust makes every assigned partition active again on a new assignment (and
  pauses and resumes them around its recovery), so the hold ends with it: the gate forgets it,
  and judges nothing while the app is rebalancing or recovering.
- The stall watchdog: a paused router makes no progress on purpose; the gate notes its progress
  at each tick while it holds it paused. A writer that stops writing is still caught (its own
  clock), and then the worker exits as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from processor.domain.backpressure import RouterGate, Turn, waiting
from processor.kafka import topics
from processor.stream import metrics
from processor.stream.checkpoint import TRANSIENT, guarded
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

TICK_SECONDS = 0.2  # how often the lag is judged (one ListOffsets request to the broker)
LAG_TIMEOUT = 2.0


async def routed_lag(consumer: Any, routed_topics: set[str]) -> int:
    """Routed records not yet handed to this worker's writers, over their partitions: end
    offsets asked of the broker (the consumer's own, from its last fetch of a partition, go
    stale exactly when the writers are starved of fetches), read offsets as Faust holds them
    (not in its public interface, like the commits ``lag.py`` reads)."""
    assigned = [tp for tp in consumer.assignment() if tp.topic in routed_topics]
    if not assigned:
        return 0
    ends = await asyncio.wait_for(consumer.highwaters(*assigned), LAG_TIMEOUT)
    positions = next_offsets(consumer, assigned)
    unknown = [tp for tp in assigned if positions.get(tp) is None]
    if unknown:  # nothing read or committed yet (a new group): from the partition's start
        positions.update(await asyncio.wait_for(consumer.earliest_offsets(*unknown),
                                                LAG_TIMEOUT))
    return waiting((ends.get(tp), positions.get(tp)) for tp in assigned)


def next_offsets(consumer: Any, tps: list[Any]) -> dict[Any, int | None]:
    """The next offset Faust's consumer hands over per partition: after the last one read
    since the assignment, else the committed one (where the seek put it)."""
    read = getattr(consumer, "_read_offset", {})
    committed = getattr(consumer, "_committed_offset", {})
    return {tp: read[tp] + 1 if read.get(tp) is not None else committed.get(tp) for tp in tps}


def hold(consumer: Any, tps: set[Any]) -> None:
    """Keep ``tps`` out of the next fetches; records in hand are still delivered."""
    for tp in tps:
        consumer.on_buffer_full(tp)


def release(consumer: Any, tps: set[Any]) -> None:
    for tp in tps:
        consumer.on_buffer_drop(tp)


def register(p: Pipeline) -> None:
    settings = p.settings
    if not settings.router_pause_lag:
        return
    app = p.app
    gate = RouterGate(settings.router_pause_lag)
    routed_topics = {topic.get_topic_name() for topic in p.routed.values()}
    paused: set[Any] = set()  # the raw partitions the gate paused

    def forget() -> None:
        gate.reset()
        paused.clear()
        metrics.ROUTER_PAUSED.set(0)

    p.on_assignment.append(forget)

    @app.timer(interval=TICK_SECONDS)
    @guarded("router gate")
    async def gate_router() -> None:
        if app.rebalancing or app.in_recovery:
            return
        consumer = app.consumer
        try:
            lag = await routed_lag(consumer, routed_topics)
        except TRANSIENT as exc:  # judged again at the next tick
            log.debug("router gate: routed lag unavailable: %s", exc)
            return
        turn = gate.judge(lag)
        if turn is Turn.PAUSE:
            paused.update(tp for tp in consumer.assignment() if tp.topic == topics.RAW)
            hold(consumer, paused)
            metrics.ROUTER_PAUSES.inc()
            metrics.ROUTER_PAUSED.set(1)
        elif turn is Turn.RESUME:
            release(consumer, paused)
            paused.clear()
            metrics.ROUTER_PAUSED.set(0)
        if gate.paused:
            p.watchdog.progressed("router")  # waiting for the writers on purpose
