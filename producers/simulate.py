"""``energy-ingest simulate``: publish a simulated fleet's readings to ``telemetry.raw``.

It replays past time, from ``--hours`` ago up to now, as fast as ``--speed`` allows, then goes on
in real time: it never publishes readings from the future. Every reading is a function of
(``--seed``, device, minute), so hours replayed again are duplicates the pipeline skips silently.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from processor.errors import StartupError
from processor.kafka.producer import Delivery, check_broker, produce, producer_config
from processor.kafka.topics import RAW
from producers.fleet import Fleet, minutes
from producers.partition_keys import device_key

log = logging.getLogger(__name__)


@dataclass
class SimulateOptions:
    devices: int = 100  # meters, and as many vehicles
    hours: float = 24.0  # how far back the replay starts
    speed: float = 0.0  # simulated minutes per real second while replaying; 0: no limit
    count: int | None = None  # stop after this many readings
    minutes: int | None = None  # stop after this many simulated minutes
    batch: int = 1  # readings per Kafka message (1: single-reading messages)
    seed: int = 42
    topic: str = RAW
    truth: Path | None = None  # where to write which vehicles are faulty (CSV)


def _encode(readings: list[dict[str, Any]]) -> bytes:
    payload: Any = readings[0] if len(readings) == 1 else readings
    return json.dumps(payload, separators=(",", ":")).encode()


def simulate(bootstrap: str, opts: SimulateOptions, out: Any = sys.stderr) -> int:
    """Publish until the count or minutes are reached (or forever); returns readings acked."""
    fleet = Fleet(opts.devices, opts.seed)
    if opts.truth is not None:
        try:
            fleet.write_truth(opts.truth)
        except OSError as exc:  # one line for the command line, as for any start-up error
            raise StartupError(f"cannot write the ground truth to {opts.truth}: "
                               f"{exc.strerror or exc}") from exc
        faulty = sum(v.faulty for v in fleet.vehicles)
        print(f"simulate: ground truth in {opts.truth} ({faulty} of {opts.devices} vehicles "
              "made faulty)", file=out, flush=True)
    check_broker(bootstrap)
    producer = Producer(producer_config(bootstrap))
    delivery = Delivery()
    start = datetime.now(UTC) - timedelta(hours=opts.hours)
    end = start + timedelta(minutes=opts.minutes) if opts.minutes is not None else None
    wall_start = time.monotonic()
    sent = 0
    last_report = wall_start
    pending: list[dict[str, Any]] = []
    caught_up = False

    def send(readings: list[dict[str, Any]]) -> None:
        key = device_key(readings[0]) if len(readings) == 1 else None
        produce(producer, opts.topic, _encode(readings), key, delivery)

    try:
        for n, at in enumerate(minutes(start, end)):
            _pace(at, n, opts.speed, wall_start)
            for reading in fleet.minute(at):
                if opts.batch <= 1:
                    send([reading])
                else:
                    pending.append(reading)
                    if len(pending) >= opts.batch:
                        send(pending)
                        pending = []
                sent += 1
                if opts.count is not None and sent >= opts.count:
                    break
            producer.poll(0)
            if not caught_up and at + timedelta(minutes=1) > datetime.now(UTC):
                caught_up = True
                print(f"simulate: replayed the past {opts.hours:g} h ({sent} readings); "
                      "now one reading a minute per device, in real time", file=out, flush=True)
            now = time.monotonic()
            if now - last_report >= 2:
                last_report = now
                rate = sent / max(now - wall_start, 1e-9)
                print(f"simulate: {sent} readings sent ({rate:,.0f}/s), "
                      f"simulated time {at:%Y-%m-%d %H:%M}Z", file=out, flush=True)
            if opts.count is not None and sent >= opts.count:
                break
    except KeyboardInterrupt:
        print("simulate: interrupted, flushing", file=out, flush=True)
    finally:
        if pending:
            send(pending)
        producer.flush(30)
    elapsed = time.monotonic() - wall_start
    messages = delivery.acked + delivery.failed
    print(f"simulate: done, {sent} readings in {messages} messages, {delivery.acked} messages "
          f"acked, {delivery.failed} failed, {elapsed:.1f}s", file=out, flush=True)
    if delivery.failed:
        print(f"simulate: delivery errors: {delivery.errors}", file=out, flush=True)
    return sent if not delivery.failed else -1


def _pace(at: datetime, n: int, speed: float, wall_start: float) -> None:
    """Sleep until the minute ``at`` may be published: never before it happened."""
    wait = (at - datetime.now(UTC)).total_seconds()
    if speed > 0:
        wait = max(wait, wall_start + n / speed - time.monotonic())
    if wait > 0:
        time.sleep(wait)
