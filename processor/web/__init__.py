"""HTTP views served by each worker's Faust web server; one module per concern."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from processor.app import Pipeline


def register_web(pipeline: Pipeline) -> None:
    from processor.web import analytics, dashboard, fleet, health

    health.register(pipeline)
    analytics.register(pipeline)
    fleet.register(pipeline)
    dashboard.register(pipeline)
