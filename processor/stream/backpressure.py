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
interval (a second): measured, 13-20% slower on batches for nothing. The broker is asked every
0.2 s while the router runs; a held router is looked at every 50 ms from the consumer's own
offsets, and resumed as soon as the writers were handed what waited. With several workers each
one pauses its own raw partitions while its own writers are behind; a worker's writers never
wait for its router, so a pause always ends once they have been handed their records.

The timer only starts a look (ask and judge) as a task, and none while the last one is still
in flight: the embedded broker answers the consumer's questions only after the fetch in
flight, which it holds for ``BROKER_FETCH_MAX_WAIT_MS`` (100 ms) when there is nothing to
fetch. Measured on an idle worker, ``highwaters`` took a median 103 ms (2-108 ms; with the wait
at 300 ms, a median 204 ms, up to 315 ms) and ``earliest_offsets`` 101 ms (95-111 ms); a tick
that awaited both ran about 0.2 s, four intervals, and mode warned "Timer ... is overlapping"
on every question, 2-3 lines a second. Now a tick takes under 0.2 ms. A partition's start
(where nothing was read or committed yet) is asked once per assignment and kept: it moves only
with retention, and asking it at every look doubled the question's time and made a held
router's look a question too. Measured after: on an idle worker, a question (``highwaters``
alone) took a median 51 ms (3-108 ms), one every 0.2 s; working off the backlog of
tests/integration/test_backpressure.py, a median 39 ms (p90 84 ms, at most 166 ms). A tick that
comes while a look is in flight starts none.

- A rebalance: Faust makes every assigned partition active again on a new assignment (and
  pauses and resumes them around its recovery), so the hold ends with it: the gate forgets it,
  and judges nothing while the app is rebalancing or recovering, nor acts on a look that was
  in flight when the rebalance began. A hold never outlives a pause: Faust kept held
  partitions apart from paused ones, handed their records over while a recovery held them
  paused, and a release (``on_buffer_drop``) fetched them again then; their first records were
  thrown away by the recovery's last step (``faust_fixes.py``, adjustment 9).
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
from processor.stream.checkpoint import TRANSIENT, timer_guarded
from processor.stream.offsets import committed_offsets, or_start, read_offsets
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05  # how often a held router is looked at (locally: no request)
ASK_EVERY = 4  # ticks between two questions to the broker while the router runs (0.2 s)
LAG_TIMEOUT = 2.0


async def routed_ends(consumer: Any, routed_topics: set[str]) -> dict[Any, int]:
    """The end offsets of this worker's routed partitions, asked of the broker: the consumer's
    own, from its last fetch of a partition, go stale exactly when the writers are starved of
    fetches."""
    assigned = [tp for tp in consumer.assignment() if tp.topic in routed_topics]
    if not assigned:
        return {}
    return dict(await asyncio.wait_for(consumer.highwaters(*assigned), LAG_TIMEOUT))


async def positions(consumer: Any, tps: list[Any],
                    starts: dict[Any, int]) -> dict[Any, int | None]:
    """``next_offsets``, from the partition's start where nothing was read or committed yet
    (a new consumer group); the starts are asked of the broker once per assignment and kept in
    ``starts``."""
    return await or_start(consumer, next_offsets(consumer, tps), tps, LAG_TIMEOUT, starts)


def next_offsets(consumer: Any, tps: list[Any]) -> dict[Any, int | None]:
    """The next offset Faust's consumer hands over per partition: after the last one read
    since the assignment, else the committed one (where the seek put it)."""
    read, committed = read_offsets(consumer), committed_offsets(consumer)
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
    ends: dict[Any, int] = {}  # the routed partitions' end offsets the broker last reported
    starts: dict[Any, int] = {}  # their first offsets, asked once per assignment
    ticks = 0
    looking: asyncio.Future[Any] | None = None  # the last look, while it waits for the broker

    def forget() -> None:
        gate.reset()
        paused.clear()
        ends.clear()
        starts.clear()
        metrics.ROUTER_PAUSED.set(0)

    p.on_assignment.append(forget)

    @timer_guarded("router gate")
    async def look(ask: bool) -> None:
        consumer = app.consumer
        try:
            if ask:
                ends.clear()
                ends.update(await routed_ends(consumer, routed_topics))
            tps = [tp for tp in ends if tp in consumer.assignment()]
            lag = waiting((ends[tp], at) for tp, at in
                          (await positions(consumer, tps, starts)).items())
        except TRANSIENT as exc:  # judged again at the next tick
            log.debug("router gate: routed lag unavailable: %s", exc)
            return
        if app.rebalancing or app.in_recovery:  # began while the broker answered: the
            return  # assignment forgets the hold, and the recovery resumes the partitions
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

    @app.timer(interval=TICK_SECONDS)
    async def gate_router() -> None:
        # Only starts a look: a question to the broker takes longer than a tick (see above),
        # and a tick that waited for it would overlap the next ones.
        nonlocal ticks, looking
        if app.rebalancing or app.in_recovery:
            return
        ticks += 1
        if looking is not None and not looking.done():
            return  # the last look still waits for the broker; this tick is skipped
        # Held: resumed as soon as the writers were handed what waited when the broker was
        # last asked (read offsets move locally); a hold then costs the router a tick, not a
        # question. Running: the broker is asked every ASK_EVERY ticks.
        if not gate.paused and ticks % ASK_EVERY:
            return
        looking = app.add_future(look(ask=not gate.paused))
