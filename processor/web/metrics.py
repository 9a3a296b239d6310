"""``GET /metrics``: Prometheus text, with consumer lag refreshed at each scrape."""

from __future__ import annotations

import logging

from faust.web import Request, Response, View
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from processor.stream import metrics
from processor.stream.lag import consumer_lag
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)


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
