"""The router agent: ``telemetry.raw`` -> partition-aligned batches, and rejections -> DLQ.

Raw messages are acked only once every batch and dead letter made from them is on the broker.
Routed batches are produced through confluent-kafka (``processor.outbox``): librdkafka sends
them from its own threads while the router validates on (aiokafka, Faust's producer, did it in
the event loop's thread: 7-8% of the worker's time on batches).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from processor import metrics
from processor.deadletter import dead_letter
from processor.lines import Line
from processor.outbox import DeliveryError, Outbox
from processor.routing import route
from processor.validation import validate_message
from processor.writers import exit_for_redelivery

if TYPE_CHECKING:
    from processor.app import Pipeline

log = logging.getLogger(__name__)

# Readings routed and sent while the rest of a take is still being validated: a take of 2,000
# batch messages can hold a million readings, which as objects were ~100 MB of the worker's peak,
# and the writers can start on the first ones meanwhile.
ROUTE_EVERY = 10_000
YIELD_EVERY = 1_000  # readings validated between two turns of the event loop (~5-10 ms)


def register_router(p: Pipeline) -> None:
    settings = p.settings
    outbox = Outbox(settings.kafka_bootstrap_servers or "")
    topic_names = {kind: topic.get_topic_name() for kind, topic in p.routed.items()}

    def send_routed(lines: list[Line]) -> None:
        accepted = dict.fromkeys(p.routed, 0)
        for batch in route(lines, settings.telemetry_partitions, settings.readings_per_batch):
            outbox.send(topic_names[batch.kind], batch.encode(), None, batch.partition)
            accepted[batch.kind] += len(batch.rows)
        metrics.readings_accepted(accepted)

    @p.app.agent(p.raw, name="router")
    async def router(stream: Any) -> None:
        async for events in stream.noack().noack_take(
            settings.router_batch_max, within=settings.router_flush_seconds
        ):
            lines: list[Line] = []
            pending: list[Any] = []
            unyielded = 0
            for event in events:
                message = event.message
                outcome = validate_message(event.value, as_lines=True)
                lines.extend(outcome.lines)
                unyielded += len(outcome.lines) + 1
                for rejection in outcome.rejections:
                    value = dead_letter(rejection, message.topic, message.partition,
                                        message.offset)
                    pending.append(await p.dlq.send(key=message.key, value=value))
                metrics.readings_rejected(outcome.rejections)
                if len(lines) >= ROUTE_EVERY:
                    send_routed(lines)
                    lines = []
                if unyielded >= YIELD_EVERY:
                    # Let HTTP requests and the writers run too: they share this event loop,
                    # and a take can be seconds of validation.
                    unyielded = 0
                    await asyncio.sleep(0)
            send_routed(lines)
            # Acked only once every batch and dead letter made from the take is on the broker.
            await asyncio.gather(*pending)
            try:
                await outbox.flush()
            except DeliveryError:
                exit_for_redelivery("router", "routed batches not written")
            for event in events:
                await stream.ack(event)
            metrics.RAW_MESSAGES.inc(len(events))
