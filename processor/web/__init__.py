"""HTTP views served by each worker's Faust web server; one module per concern.

Users reach them through the gateway (processor/gateway/), which forwards every request but
ingest. Reads: the efficiency figures (``efficiency.py``), live state and recent hours
(``live.py``, ``hours.py``, asking the owning worker through ``owners.py``), the web view
(``dashboard.py``); links (``fleet.py``); operations (``health.py``, ``readiness.py``,
``metrics.py``, ``openapi.py``, ``errors.py``); API keys and the login form (``auth.py``).
"""

from __future__ import annotations

from processor.stream.pipeline import Pipeline
from processor.web import (
    auth,
    dashboard,
    efficiency,
    errors,
    fleet,
    health,
    hours,
    live,
    metrics,
    openapi,
    readiness,
)
from processor.web.resources import Resources


def register_web(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    res = Resources(settings, pipeline.dsn, settings.kafka_bootstrap_servers or "")
    auth.register(pipeline)  # first: its middleware judges every request
    health.register(pipeline)
    errors.register(pipeline)
    live.register(pipeline, res)
    hours.register(pipeline, res)
    readiness.register(pipeline, res)
    metrics.register(pipeline)
    openapi.register(pipeline)
    efficiency.register(pipeline, res)
    fleet.register(pipeline)
    dashboard.register(pipeline)
