"""The Faust application: topics, tables, agents and web views wired from one Settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import faust

from processor import metrics, topics
from processor.checkpoint import guarded
from processor.faust_fixes import fetch_max_wait, seek_before_resume
from processor.settings import Settings
from processor.watchdog import Watchdog

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """Everything agents and views share."""

    app: faust.App
    settings: Settings
    dsn: str
    raw: faust.TopicT
    routed: dict[str, faust.TopicT]  # "meter" / "vehicle" -> telemetry.meter / .vehicle
    dlq: faust.TopicT
    live: dict[str, Any]  # "meter" / "vehicle" -> Faust table: device id -> latest reading
    # "meter" / "vehicle" -> Faust table: "device|hour" -> that hour's rollup totals
    hourly: dict[str, Any] = field(default_factory=dict)
    watchdog: Watchdog = field(default_factory=lambda: Watchdog({}, 60.0))

# The agents, and the topic each one consumes (the stall watchdog compares its lag).
AGENTS = {"router": topics.RAW, "meter_writer": topics.METER, "vehicle_writer": topics.VEHICLE}


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def build_app(settings: Settings, dsn: str) -> Pipeline:
    if not settings.kafka_bootstrap_servers:
        raise ValueError("build_app needs settings.kafka_bootstrap_servers")
    seek_before_resume()  # Faust resumes partitions before seeking them; see faust_fixes
    fetch_max_wait(settings.broker_fetch_max_wait_ms)
    # Faust keeps an (empty, with in-memory tables) directory per app id; under DATA_DIR rather
    # than "<app id>-data" in whatever directory the worker was started from.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    escaped = str(settings.data_dir).replace("{", "{{").replace("}", "}}")
    app = faust.App(
        settings.app_id,
        datadir=f"{escaped}/faust-{{conf.name}}",
        broker=broker_urls(settings.kafka_bootstrap_servers),
        store="memory://",
        topic_partitions=settings.telemetry_partitions,
        topic_allow_declare=False,  # topics are created up front, with the right partitions
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # No standby copies: each worker would also replay every other worker's changelogs
        # (measured: two workers slower than one). PostgreSQL is the durable live state.
        table_standby_replicas=0,
        producer_acks=-1,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        web_host=settings.web_bind,
        web_enabled=True,
        # Faust's own debug pages (/router, /table, /graph, /stats): nothing here uses them,
        # and /router/{name}/ answers 500 on bad input.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        logging_config=None,
    )
    raw = app.topic(topics.RAW, key_type=bytes, value_type=bytes,
                    key_serializer="raw", value_serializer="raw")
    routed = {
        kind: app.topic(name, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")
        for kind, name in (("meter", topics.METER), ("vehicle", topics.VEHICLE))
    }
    dlq = app.topic(topics.DLQ, key_type=bytes, value_type=bytes,
                    key_serializer="raw", value_serializer="raw")
    live = {
        kind: app.Table(f"{kind}_live", default=None, partitions=settings.telemetry_partitions,
                        key_type=str)  # values: plain JSON objects
        for kind in ("meter", "vehicle")
    }
    hourly = {
        kind: app.Table(f"{kind}_hourly", default=None, partitions=settings.telemetry_partitions,
                        key_type=str)  # values: plain JSON objects
        for kind in ("meter", "vehicle")
    }
    pipeline = Pipeline(app, settings, dsn, raw, routed, dlq, live, hourly,
                        Watchdog(AGENTS, settings.stall_seconds))

    from processor.brokerwatch import register_brokerwatch
    from processor.router import register_router
    from processor.web import register_web
    from processor.writers import register_writers

    register_router(pipeline)
    register_brokerwatch(pipeline)
    register_writers(pipeline)
    register_web(pipeline)

    from processor.alerts import register_alerts

    register_alerts(pipeline)
    from processor.maintenance import register_maintenance  # partitions, retention
    register_maintenance(pipeline)
    from processor import watchdog

    watchdog.register(pipeline)

    @app.timer(interval=10.0)
    @guarded("progress log")
    async def progress() -> None:
        log.info("progress: %s", metrics.progress_line())

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        pipeline.watchdog.restart_clocks()
        owned = sorted(tp.partition for tp in assigned if tp.topic == topics.RAW)
        log.info("worker owns partitions %s of %s", owned, topics.RAW)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        # Runs after the consumer waited for every in-flight batch to be written and acked.
        log.info("stopped cleanly, in-flight batches committed; final: %s", metrics.progress_line())

    return pipeline
