"""The router agent: ``telemetry.raw`` -> partition-aligned batches, and rejections -> DLQ.

Raw messages are acked only once every batch and dead letter made from them is on the broker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from processor import metrics
from processor.deadletter import dead_letter
from processor.routing import route
from processor.validation import validate_message

if TYPE_CHECKING:
    from processor.app import Pipeline

log = logging.getLogger(__name__)

YIELD_EVERY = 1000  # readings validated between two turns of the event loop (~5 ms)


def register_router(p: Pipeline) -> None:
    settings = p.settings

    @p.app.agent(p.raw, name="router")
    async def router(stream: Any) -> None:
        async for events in stream.noack().noack_take(
            settings.router_batch_max, within=settings.router_flush_seconds
        ):
            readings = []
            pending = []
            unyielded = 0
            for event in events:
                message = event.message
                outcome = validate_message(event.value)
                readings.extend(outcome.readings)
                unyielded += len(outcome.readings) + 1
                if unyielded >= YIELD_EVERY:
                    # A take of 2,000 batch messages is seconds of validation: let HTTP
                    # requests and the writers run in between (they share this event loop).
                    unyielded = 0
                    await asyncio.sleep(0)
                for rejection in outcome.rejections:
                    value = dead_letter(rejection, message.topic, message.partition,
                                        message.offset)
                    pending.append(await p.dlq.send(key=message.key, value=value))
                metrics.readings_rejected(outcome.rejections)
            batches = route(readings, settings.telemetry_partitions,
                            settings.readings_per_batch)
            for batch in batches:
                pending.append(await p.routed[batch.kind].send(
                    value=batch.encode(), partition=batch.partition))
            await asyncio.gather(*pending)
            for event in events:
                await stream.ack(event)
            metrics.RAW_MESSAGES.inc(len(events))
            metrics.readings_accepted(readings)
