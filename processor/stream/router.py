"""The router agent: ``telemetry.raw`` -> partition-aligned batches, and rejections -> DLQ.

Raw messages are acked only once every batch and dead letter made from them is on the broker
(``checkpoint.py``); the router takes its next batch meanwhile (``Pipelined``). Routed batches
and dead letters are produced through confluent-kafka (``processor/kafka/outbox.py``):
librdkafka sends them from its own threads while the router validates on (aiokafka, Faust's
producer, did it in the event loop's thread: 7-8% of the worker's time on batches).

Validation never raises (``processor/domain/validation.py``); should it anyway, on a bug we
have not found yet, the message goes to the dead-letter topic with reason ``internal error`` and the
router goes on with the next one: one producer's bytes never stop everyone else's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from processor.domain.dead_letters import dead_letter
from processor.domain.fast_path import Line
from processor.domain.partitioning import route
from processor.domain.readings import set_min_reading_time
from processor.domain.validation import INTERNAL_ERROR, Outcome, Rejection, validate_message
from processor.kafka import topics
from processor.kafka.outbox import Outbox
from processor.stream import metrics
from processor.stream.checkpoint import Pipelined, guarded
from processor.stream.pipeline import Pipeline
from processor.stream.watchdog import watch_take

log = logging.getLogger(__name__)

# Readings routed and sent while the rest of a take is still being validated: a take of 2,000
# batch messages can hold a million readings, which as objects were ~100 MB of the worker's peak,
# and the writers can start on the first ones meanwhile.
ROUTE_EVERY = 10_000
YIELD_EVERY = 1_000  # readings validated between two turns of the event loop (~5-10 ms)


def judge(value: bytes | None) -> Outcome:
    """A raw message's outcome, whatever happens: a message that makes validation raise is
    rejected whole with reason ``internal error`` (and counted)."""
    try:
        outcome = validate_message(value, as_lines=True)
    except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop the router
        log.exception("router: validating a message raised; it goes to %s", topics.DLQ)
        metrics.internal_error("router")
        return Outcome(rejections=[Rejection.internal(exc, value or b"")])
    if outcome.rejections:
        internal = sum(1 for r in outcome.rejections if r.summary == INTERNAL_ERROR)
        if internal:
            metrics.internal_error("validation", internal)
    return outcome


def register_router(p: Pipeline) -> None:
    settings = p.settings
    set_min_reading_time(settings.min_reading_time)  # the oldest reading this worker stores
    outbox = Outbox(settings.kafka_bootstrap_servers or "")
    topic_names = {kind: topic.get_topic_name() for kind, topic in p.routed.items()}

    def send_routed(lines: list[Line]) -> None:
        accepted = dict.fromkeys(p.routed, 0)
        for batch in route(lines, settings.telemetry_partitions, settings.readings_per_batch):
            outbox.send(topic_names[batch.kind], batch.encode(), None, batch.partition)
            accepted[batch.kind] += len(batch.rows)
        metrics.readings_accepted(accepted)

    def send_dead_letters(message: Any, rejections: list[Rejection]) -> None:
        for rejection in rejections:
            outbox.send(topics.DLQ, dead_letter(rejection, message.topic, message.partition,
                                                message.offset), message.key)
        metrics.readings_rejected(rejections)

    @p.app.agent(p.raw, name="router")
    @guarded("router")
    async def router(stream: Any) -> None:
        checkpoints = Pipelined("router", p.watchdog)
        async for events in watch_take("router", stream.noack().noack_take(
            settings.router_batch_max, within=settings.router_flush_seconds
        )):
            p.watchdog.began("router")
            lines: list[Line] = []
            unyielded = 0
            for event in events:
                outcome = judge(event.value)
                lines.extend(outcome.lines)
                unyielded += len(outcome.lines) + 1
                if outcome.rejections:
                    send_dead_letters(event.message, outcome.rejections)
                if len(lines) >= ROUTE_EVERY:
                    send_routed(lines)
                    lines = []
                if unyielded >= YIELD_EVERY:
                    # Let HTTP requests and the writers run too: they share this event loop,
                    # and a take can be seconds of validation.
                    unyielded = 0
                    await asyncio.sleep(0)
            send_routed(lines)
            # acked once its routed batches and dead letters are on the broker, while the
            # router goes on with the next take
            await checkpoints.submit(stream, events, (outbox,))
            metrics.RAW_MESSAGES.inc(len(events))
