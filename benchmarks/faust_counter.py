"""The engine's ceiling: a bare Faust agent that only counts the messages it is given.

Run as a subprocess (``python -m benchmarks.faust_counter``) with the broker settings of
``processor/app.py``. It writes ``ready`` on its first event and ``done`` (the wall-clock time)
when it has counted ``BENCH_EXPECT`` events.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import faust

from processor.app import broker_urls
from processor.kafka.faust_credentials import faust_credentials
from processor.kafka.security import KafkaSecurity
from processor.settings import Settings
from processor.stream.eventloop import use_event_loop
from processor.stream.gc_tuning import tune_gc


def build() -> faust.App:
    settings = Settings()
    out = Path(os.environ["BENCH_OUT"])
    expect = int(os.environ["BENCH_EXPECT"])
    app = faust.App(
        settings.app_id,
        broker=broker_urls(settings.kafka_bootstrap_servers or ""),
        broker_credentials=faust_credentials(KafkaSecurity.from_settings(settings)),
        store="memory://",
        datadir=str(out / "faust-data"),
        topic_partitions=settings.telemetry_partitions,
        topic_allow_declare=False,
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        logging_config=None,
    )
    topic = app.topic(os.environ.get("BENCH_TOPIC", "telemetry.raw"), key_type=bytes,
                      value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="counter")
    async def counter(stream: Any) -> None:
        seen = 0
        async for _value in stream:
            seen += 1
            if seen == 1:
                (out / "ready").write_text(str(time.time()))
            if seen == expect:
                (out / "done").write_text(str(time.time()))

    return app


def main() -> None:
    # The worker's event loop (EVENT_LOOP), so the ceiling is measured on the same footing.
    settings = Settings()
    use_event_loop(settings.event_loop)
    tune_gc(settings.gc_gen0_threshold)  # as the worker: the ceiling stays comparable
    app = build()
    worker = faust.Worker(app, loglevel="warning", quiet=True, override_logging=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
