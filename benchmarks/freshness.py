"""Freshness: from publish to visible in ``vehicle_live``, at a steady rate of single-reading
messages. Sampled vehicle readings are timed by polling their rows every 20 ms (or, given
``look``, by asking something else for their latest timestamps: the live endpoint)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from benchmarks import pipeline
from benchmarks.env import Stack, log
from benchmarks.fleet_input import device_id, encode, generate
from benchmarks.stats import latency_summary
from processor.kafka.producer import Delivery, produce

POLL_SECONDS = 0.02
# After the last publish, how long samples may still take to show. Samples not seen by then
# count with their age at that moment: a lower bound, so a pipeline that falls behind the
# steady rate reports a p99 at least this long instead of a flattering one.
DRAIN_SECONDS = 10.0
# The first seconds take the pipeline from idle to the steady rate (the live tables' first row
# per device, the worker's caches and batches growing); the JSON also gives the figures of the
# samples published after them, to tell that ramp from the steady state.
RAMP_SECONDS = 5.0
LIVE_TS = "SELECT vehicle_id, ts FROM vehicle_live WHERE vehicle_id = ANY(%s)"

# vehicle ids -> (vehicle id, latest timestamp) of those it knows
Look = Callable[[list[str]], list[tuple[str, datetime]]]


@contextlib.contextmanager
def in_postgres(dsn: str) -> Iterator[Look]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield lambda vehicles: conn.execute(LIVE_TS, (vehicles,)).fetchall()


def measure(stack: Stack, vehicles: int, rate_per_s: int, seconds: float, partitions: int,
            sample_every: int = 10) -> dict[str, Any]:
    with pipeline.running(stack, "freshness", partitions) as r:
        return measure_on(r, vehicles, rate_per_s, seconds, sample_every)


def measure_on(r: pipeline.Running, vehicles: int, rate_per_s: int, seconds: float,
               sample_every: int = 10,
               looking: contextlib.AbstractContextManager[Look] | None = None
               ) -> dict[str, Any]:
    """On a running pipeline (its live rows must be older than now - a few minutes)."""
    total = int(rate_per_s * seconds)
    minutes = total // (2 * vehicles) + 1
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes + 5)
    data = generate(vehicles, minutes, start=start)
    readings = data.readings[:total]
    messages = [(device_id(r).encode(), encode(r)) for r in readings]
    vehicle_positions = [i for i, r in enumerate(readings) if "vehicleId" in r]
    sampled = set(vehicle_positions[::sample_every])

    sc, publisher = r.sc, r.publisher
    log(f"freshness: {rate_per_s:,} readings/s for {seconds:g}s, "
        f"{len(sampled):,} sampled vehicle readings")
    pending: dict[str, list[tuple[datetime, float]]] = {}  # vehicle -> (ts, published)
    lock = threading.Lock()
    finished = threading.Event()

    def produce_steadily() -> None:
        delivery = Delivery()
        producer = publisher.producer
        t0 = time.monotonic()
        for i, (key, value) in enumerate(messages):
            due = t0 + i / rate_per_s
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if i in sampled:
                reading = readings[i]
                with lock:
                    pending.setdefault(reading["vehicleId"], []).append(
                        (datetime.fromisoformat(reading["timestamp"]), time.monotonic()))
            produce(producer, publisher.topic, value, key, delivery)
            producer.poll(0)
        producer.flush(30)
        finished.set()

    thread = threading.Thread(target=produce_steadily, name="steady-producer", daemon=True)
    latencies: list[float] = []
    after_ramp: list[float] = []
    thread.start()
    ramp_ends = time.monotonic() + RAMP_SECONDS
    with looking or in_postgres(sc.dsn) as look:
        give_up = None
        while True:
            with lock:
                waiting = dict(pending)
            if waiting:
                rows = look(list(waiting))
                now = time.monotonic()
                with lock:
                    for vehicle_id, ts in rows:
                        samples = pending.get(vehicle_id, [])
                        for at, sent in samples:
                            if ts >= at:
                                latencies.append(now - sent)
                                if sent >= ramp_ends:
                                    after_ramp.append(now - sent)
                        left = [(at, sent) for at, sent in samples if ts < at]
                        if left:
                            pending[vehicle_id] = left
                        else:
                            pending.pop(vehicle_id, None)
            if finished.is_set():
                give_up = give_up or time.monotonic() + DRAIN_SECONDS
                if not pending or time.monotonic() > give_up:
                    break
            time.sleep(POLL_SECONDS)
    thread.join()
    peak = r.workers[0].peak_rss_mb()
    missing = sum(len(samples) for samples in pending.values())
    ended = time.monotonic()
    latencies.extend(ended - sent for samples in pending.values() for _, sent in samples)
    after_ramp.extend(ended - sent for samples in pending.values() for _, sent in samples
                      if sent >= ramp_ends)
    result: dict[str, Any] = {"rate_per_s": rate_per_s, "seconds": seconds,
                              "readings": total, "poll_ms": POLL_SECONDS * 1000,
                              "not_seen_within_drain": missing,
                              "drain_seconds": DRAIN_SECONDS, "worker_peak_rss_mb": [peak]}
    if latencies:
        result.update(latency_summary(latencies))
        log(f"freshness: p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms "
            f"over {len(latencies):,} samples ({missing} not visible {DRAIN_SECONDS:g}s after "
            "the last publish, counted at that age)")
    if after_ramp:
        steady = latency_summary(after_ramp)
        result["after_ramp"] = {"skipped_seconds": RAMP_SECONDS, **steady}
        log(f"freshness: after the first {RAMP_SECONDS:g}s, p50 {steady['p50_ms']:.0f} ms, "
            f"p99 {steady['p99_ms']:.0f} ms")
    return result
