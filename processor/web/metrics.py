"""``GET /metrics``: Prometheus text, with consumer lag refreshed at each scrape."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from faust.web import Request, Response, View
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from processor import metrics, topics

if TYPE_CHECKING:
    from processor.app import Pipeline

log = logging.getLogger(__name__)

# Lag is reported for the topics the agents consume, not for table changelogs.
LAG_TOPICS = (topics.RAW, topics.METER, topics.VEHICLE)
LAG_TIMEOUT = 2.0


async def consumer_lag(p: Pipeline) -> dict[tuple[str, int], int]:
    """Per assigned partition: the broker's end offset minus what this worker committed."""
    consumer = p.app.consumer
    try:
        assigned = [tp for tp in consumer.assignment() if tp.topic in LAG_TOPICS]
    except Exception:  # consumer not started yet: no partitions, no lag
        return {}
    if not assigned:
        return {}
    ends = await asyncio.wait_for(consumer.highwaters(*assigned), LAG_TIMEOUT)
    lags = {}
    for tp in assigned:
        # what Faust last committed (the next offset to read); not in its public interface
        committed = getattr(consumer, "_committed_offset", {}).get(tp)
        if committed is None:
            committed = await asyncio.wait_for(consumer.position(tp), LAG_TIMEOUT)
        value = metrics.lag(ends.get(tp), committed)
        if value is not None:
            lags[(tp.topic, tp.partition)] = value
    return lags


def register(p: Pipeline) -> None:
    @p.app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            try:
                metrics.set_consumer_lag(await consumer_lag(p))
            except Exception as exc:  # a scrape still answers; lag is missing this time
                log.warning("metrics: consumer lag unavailable: %s", exc)
                metrics.set_consumer_lag({})
            return self.bytes(generate_latest(REGISTRY),
                              headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
