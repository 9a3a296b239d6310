"""Notice when the broker lost its topics, and stop the worker with a message that says so.

The embedded broker keeps everything in memory: after a restart the topics come back empty (or
auto-created with the wrong partition count) and Faust would stall or crash obscurely. Kafka
topic ids change when a topic is recreated, so comparing them is a reliable test.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from processor import topics
from processor.checkpoint import guarded

if TYPE_CHECKING:
    from processor.app import Pipeline

log = logging.getLogger(__name__)
EXIT_BROKER_LOST = 3


def topic_ids(bootstrap: str, names: tuple[str, ...], timeout: float = 10.0
              ) -> dict[str, tuple[str, int]]:
    """name -> (topic id, partition count) for the topics that exist."""
    # log_level 4: no librdkafka info lines each time this short-lived client is dropped
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    out = {}
    futures = admin.describe_topics(TopicCollection(list(names)), request_timeout=timeout)
    for name, fut in futures.items():
        try:
            desc = fut.result(timeout)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" in str(exc):
                continue
            raise
        out[name] = (str(desc.topic_id), len(desc.partitions))
    return out


def lost_topics(before: dict[str, tuple[str, int]], now: dict[str, tuple[str, int]]) -> list[str]:
    return [name for name, ident in before.items() if now.get(name) != ident]


def register_brokerwatch(p: Pipeline, interval: float = 10.0) -> None:
    bootstrap = p.settings.kafka_bootstrap_servers or ""
    names = topics.TELEMETRY_TOPICS
    known: dict[str, tuple[str, int]] = {}

    @p.app.task
    @guarded("topic watch")
    async def remember_topics() -> None:
        known.update(await asyncio.to_thread(topic_ids, bootstrap, names))

    @p.app.timer(interval=interval)
    @guarded("topic watch")
    async def watch_topics() -> None:
        if not known:
            return
        try:
            now = await asyncio.to_thread(topic_ids, bootstrap, names)
        except KafkaException as exc:
            log.warning("broker at %s not answering (%s); waiting for it", bootstrap, exc)
            return
        lost = lost_topics(known, now)
        if lost:
            log.critical(
                "the broker at %s lost or recreated the topics %s: its data is gone (the "
                "embedded broker keeps nothing across a restart). Stopping this worker. "
                "`energy-ingest up` recreates the topics and restarts the workers by itself; "
                "with your own Kafka, recreate them (`energy-ingest topics`), restart the "
                "workers, and `energy-ingest rebuild` refills the Faust tables from "
                "PostgreSQL, which still holds every committed reading.",
                bootstrap, ", ".join(sorted(lost)))
            logging.shutdown()
            os._exit(EXIT_BROKER_LOST)
