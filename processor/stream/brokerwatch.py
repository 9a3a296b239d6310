"""Notice when the broker lost its topics, and stop the worker with a message that says so.

The embedded broker keeps everything in memory: after a restart the topics come back empty (or
auto-created with the wrong partition count) and Faust would stall or crash obscurely. Kafka
topic ids change when a topic is recreated, so comparing them is a reliable test. Every 10 s the
watch reads the broker's metadata (each topic's presence and partition count), and asks for the
ids when that changed and every 5 minutes otherwise: confluent-kafka leaks an object per topic
id it hands over (``processor/kafka/admin.py``), 29 a minute when the ids were asked every 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import os

from confluent_kafka import KafkaException

from processor.kafka import topics
from processor.kafka.admin import Ids, TopicWatch, look, lost_topics, topic_ids
from processor.stream.checkpoint import timer_guarded
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)
EXIT_BROKER_LOST = 3
IDS_EVERY = 30  # looks: the ids are asked every 5 minutes when the metadata did not change


def register_brokerwatch(p: Pipeline, interval: float = 10.0) -> None:
    bootstrap = p.settings.kafka_bootstrap_servers or ""
    names = topics.TELEMETRY_TOPICS
    known: Ids = {}
    watch = TopicWatch(known, IDS_EVERY)

    @p.app.task
    @timer_guarded("topic watch")
    async def remember_topics() -> None:
        known.update(await asyncio.to_thread(topic_ids, bootstrap, names))

    @p.app.timer(interval=interval)
    @timer_guarded("topic watch")
    async def watch_topics() -> None:
        if not known:
            return
        try:
            now = await asyncio.to_thread(look, bootstrap, names, watch)
        except KafkaException as exc:
            log.warning("broker at %s not answering (%s); waiting for it", bootstrap, exc)
            return
        if now is None:  # the metadata did not change
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
