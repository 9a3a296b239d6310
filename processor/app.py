"""The worker's Faust application, built from one Settings: what runs in it, at a glance.

    telemetry.raw ─> router ─> telemetry.meter / .vehicle ─> writers ─> PostgreSQL
                        └──> telemetry.dlq                    └──> Faust live and hourly tables

Every agent, timer and view is registered here, in this order; each ``register`` function
lives with the code it registers (``processor/stream/``, ``processor/web/``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust

from processor import web
from processor.domain.kinds import KINDS
from processor.domain.stalls import Watchdog
from processor.kafka import topics
from processor.kafka.faust_credentials import faust_credentials
from processor.kafka.security import KafkaSecurity
from processor.settings import Settings
from processor.stream import (
    alerts,
    backpressure,
    brokerwatch,
    maintenance,
    metrics,
    presence,
    router,
    tables,
    watchdog,
    writers,
)
from processor.stream.checkpoint import timer_guarded
from processor.stream.faust_fixes import (
    COMMIT_EVERY_NEVER,
    acks_mean_processed,
    commits_stop_at_a_missing_record,
    fetch_max_wait,
    fetches_hand_over_what_they_take,
    kept_partitions_recover_nothing,
    pauses_end_buffer_holds,
    recovery_reads_to_fetched_end,
    seek_before_resume,
)
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

# The agents, and the topic each one consumes (the stall watchdog compares its lag).
AGENTS = {"router": topics.RAW, **{f"{k.name}_writer": k.topic for k in KINDS.values()}}

WIRING: tuple[Callable[[Pipeline], None], ...] = (
    router.register_router,  # agent: telemetry.raw -> routed batches, dead letters
    backpressure.register,  # timer: pauses telemetry.raw while the writers are behind
    writers.register_writers,  # agents: routed batches -> PostgreSQL -> Faust tables
    tables.register_window_expiry,  # timer: drops hours past the window from the tables
    brokerwatch.register_brokerwatch,  # timer: stops the worker if the broker lost its topics
    alerts.register_alerts,  # leader timer: efficiency crossings -> alerts.efficiency
    maintenance.register_maintenance,  # leader timer: history partitions, retention
    watchdog.register,  # timer: a stalled agent ends the worker
    presence.register,  # timer: holds the workers' presence lock (energy-ingest rebuild)
    web.register_web,  # views: ingest, analytics, live, health, metrics, the web view
)


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def build_app(settings: Settings, dsn: str) -> Pipeline:
    if not settings.kafka_bootstrap_servers:
        raise ValueError("build_app needs settings.kafka_bootstrap_servers")
    seek_before_resume()  # Faust resumes partitions before seeking them; see faust_fixes
    fetch_max_wait(settings.broker_fetch_max_wait_ms)
    recovery_reads_to_fetched_end()  # the embedded broker reports a changelog's end too low
    kept_partitions_recover_nothing()  # a rebalance reads back none of our own changelogs
    fetches_hand_over_what_they_take()  # no record taken from aiokafka and then dropped
    # never commit past a record no agent finished: only past offsets that hold none
    commits_stop_at_a_missing_record([topics.RAW, *(kind.topic for kind in KINDS.values())])
    acks_mean_processed()  # and on those topics, no ack of a record a stream skipped
    pauses_end_buffer_holds()  # pausing a partition ends its hold for a full buffer
    app = faust_app(settings)
    raw = app.topic(topics.RAW, key_type=bytes, value_type=bytes,
                    key_serializer="raw", value_serializer="raw")
    routed = {name: app.topic(kind.topic, key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw")
              for name, kind in KINDS.items()}
    # Values: plain JSON objects (processor/domain/kinds.py says which); a changelog read back
    # never takes a key back in time (processor/stream/tables.py).
    live = {name: tables.forward_table(app, kind.live_table, settings.telemetry_partitions)
            for name, kind in KINDS.items()}
    hourly = {name: tables.forward_table(app, kind.hourly_table, settings.telemetry_partitions)
              for name, kind in KINDS.items()}
    watchdog = Watchdog(AGENTS, settings.stall_seconds)
    pipeline = Pipeline(app, settings, dsn, raw, routed, live, hourly, watchdog,
                        on_assignment=[watchdog.restart_clocks])
    for register in WIRING:
        register(pipeline)
    register_lifecycle(pipeline)
    return pipeline


def faust_app(settings: Settings) -> faust.App:
    assert settings.kafka_bootstrap_servers
    # Faust keeps an (empty, with in-memory tables) directory per app id; under DATA_DIR rather
    # than "<app id>-data" in whatever directory the worker was started from.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    escaped = str(settings.data_dir).replace("{", "{{").replace("}", "}}")
    return faust.App(
        settings.app_id,
        datadir=f"{escaped}/faust-{{conf.name}}",
        broker=broker_urls(settings.kafka_bootstrap_servers),
        # TLS and SASL for every aiokafka consumer and producer Faust makes (security.py)
        broker_credentials=faust_credentials(KafkaSecurity.from_settings(settings)),
        store="memory://",
        topic_partitions=settings.telemetry_partitions,
        topic_allow_declare=False,  # topics are created up front, with the right partitions
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_commit_interval=1.0,
        # Commits come from that timer only, never from the fetch loop, which could hold a
        # record through a whole rebalance and undo its seek (faust_fixes.py, 8).
        broker_commit_every=COMMIT_EVERY_NEVER,
        # A fetch is delivered record by record before the next: bounded, so routed records do
        # not wait behind a whole backlog of raw ones (processor/stream/backpressure.py).
        broker_max_poll_records=settings.broker_max_poll_records,
        consumer_auto_offset_reset="earliest",
        # No standby copies: each worker would also replay every other worker's changelogs
        # (measured: two workers slower than one). PostgreSQL is the durable live state.
        table_standby_replicas=0,
        # Faust's check that a table's changelog did not shrink under it (a deleted topic):
        # it compares the offset a table read up to with the changelog's end. The embedded
        # broker reports a partition's end as its last batch's first offset + 1
        # (processor/stream/faust_fixes.py, 3), so a worker that kept a partition through a
        # rebalance had read past that "end" and would crash with ConsistencyError; on it the
        # check is off, on every other broker it is on.
        recovery_consistency_check=not settings.kafka_embedded,
        producer_acks=-1,
        web_port=settings.web_port,
        # what this worker tells the others to reach it at (processor/stream/ownership.py)
        canonical_url=settings.advertised_url,
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


def register_lifecycle(p: Pipeline) -> None:
    """The progress line every 10 s, and what the log says on assignment and at the end."""
    @p.app.timer(interval=10.0)
    @timer_guarded("progress log")
    async def progress() -> None:
        log.info("progress: %s", metrics.progress_line())

    @p.app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        for reset in p.on_assignment:
            reset()
        owned = sorted(tp.partition for tp in assigned if tp.topic == topics.RAW)
        log.info("worker owns partitions %s of %s", owned, topics.RAW)

    @p.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        # Runs after the consumer waited for every in-flight batch to be written and acked.
        log.info("stopped cleanly, in-flight batches committed; final: %s", metrics.progress_line())
