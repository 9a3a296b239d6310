"""HTTP views served by each worker's Faust web server; one module per concern."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from processor.app import Pipeline


def register_web(pipeline: Pipeline) -> None:
    from processor.web import analytics, dashboard, fleet, health

    health.register(pipeline)
    register_api(pipeline)
    analytics.register(pipeline)
    fleet.register(pipeline)
    dashboard.register(pipeline)


def register_api(pipeline: Pipeline) -> None:
    """Issue 4: ingestion, live state, readiness, metrics, OpenAPI, JSON routing errors."""
    from processor.settings import Settings
    from processor.web import errors, ingest, live, metrics, openapi, readiness
    from processor.web.resources import Resources

    settings: Settings = pipeline.settings
    res = Resources(settings, pipeline.dsn, settings.kafka_bootstrap_servers or "")
    errors.register(pipeline)
    ingest.register(pipeline, res)
    live.register(pipeline, res)
    readiness.register(pipeline, res)
    metrics.register(pipeline)
    openapi.register(pipeline)
