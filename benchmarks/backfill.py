"""Fair progress under a backlog (issue 19): do the writers keep pace while the router works
off a backlog of single-reading messages?

The backlog is what ``energy-ingest simulate --devices N --hours H`` publishes: ``N`` meters and
``N`` vehicles of ``producers.fleet.Fleet``, a reading a minute each for ``H`` hours, one
reading a message, keyed by device. It is encoded before the clock starts, then published to
``telemetry.raw`` (from a thread, as fast as the producer goes) while one worker, started and
warmed up beforehand, drains it. About every second a ``Sample`` is taken:

- from the broker: the end offsets of ``telemetry.raw`` and of each routed topic, and what the
  worker's consumer group committed on them (sums over partitions);
- from the worker's ``/metrics``: the readings the router passed on (accepted);
- from PostgreSQL: the readings stored, by kind (the hourly rollups' ``readings``, which the
  write transaction keeps with the history, so cheap to count while the history grows).

The routed lag of a topic (``telemetry.meter``, ``telemetry.vehicle``):

- in records: its end offset minus the writers' committed offset, summed over partitions (what
  the router has produced that the writers have not yet committed);
- in seconds: how long ago the router had produced as far as the writers have now committed,
  i.e. ``now - t`` for the earliest sampled time ``t`` at which the topic's end offset had
  reached today's committed offset (linearly interpolated between samples); 0 when the writers
  committed everything. It is the age of the oldest routed record not yet written, give or take
  the sampling, and it does not depend on how many readings a routed record holds.

It reports the end-to-end time (publish start to every reading in the rollups, then the history
tables counted), readings/s, the maximum and p95 routed lag in records and seconds, and the
longest time the stored count stayed flat while the router's committed position on
``telemetry.raw`` still moved.

Other measurements can ride along: ``Backfill.on_sample`` callbacks receive the scenario, the
seconds since the publish started and the sample; ``Backfill.on_end`` callbacks receive the
scenario and the result dict, and may add to it.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from benchmarks.env import Scenario, Stack, log
from benchmarks.fleet_input import Message
from benchmarks.pipeline import Running, running, verify
from benchmarks.stats import percentile, rate
from benchmarks.workers import metric_sum
from processor.domain.kinds import KINDS
from processor.kafka.security import client_config
from processor.kafka.topics import RAW
from producers.fleet import Fleet, minutes

DEFAULT_DEVICES = 10_000  # meters, and as many vehicles: 2.4 M messages over 2 hours
DEFAULT_HOURS = 2.0
QUICK_DEVICES = 1_000  # 120,000 messages over 1 hour
QUICK_HOURS = 1.0
ROUTED = {kind.name: kind.topic for kind in KINDS.values()}  # kind -> routed topic
STORED = {kind.name: f"SELECT coalesce(sum(readings), 0) FROM {kind.name}_hourly"
          for kind in KINDS.values()}


@dataclass(frozen=True)
class Sample:
    """The pipeline at one moment; offsets are sums over a topic's partitions."""

    elapsed: float  # seconds since the publish started
    raw_end: int
    raw_committed: int
    routed_end: dict[str, int]  # kind -> end offset of its routed topic
    routed_committed: dict[str, int]  # kind -> what the writers committed on it
    accepted: int | None  # readings the router passed on (the worker's /metrics)
    stored: dict[str, int]  # kind -> readings in PostgreSQL

    @property
    def stored_total(self) -> int:
        return sum(self.stored.values())

    def routed_lag(self, kind: str) -> int:
        return max(0, self.routed_end[kind] - self.routed_committed[kind])


SampleHook = Callable[[Scenario, float, Sample], None]
EndHook = Callable[[Scenario, dict[str, Any]], None]


def backlog(devices: int, hours: float) -> list[Message]:
    """The simulator's replay of the past ``hours`` for ``devices`` meters and as many
    vehicles, one reading a message keyed by its device (``energy-ingest simulate --batch 1``)."""
    # The simulator's replay window: the last ``hours`` up to the current minute, so every
    # reading is inside the 24 hours the efficiency alerts judge (benchmarks/alert_truth.py).
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(hours=hours)
    fleet = Fleet(devices, seed=42)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    from producers.partition_keys import device_key  # here: --against imports this harness
    # beside older product code, which named it producers/keys.py

    return [(device_key(r), dumps(r).encode()) for at in minutes(start, end)
            for r in fleet.minute(at)]


def lag_seconds(ends: Sequence[tuple[float, int]], committed: int, now: float) -> float:
    """How long before ``now`` the end offset first reached ``committed`` (see the module's
    docstring); ``ends`` are (time, end offset) samples in time order, end offsets never
    decreasing. 0 when ``committed`` is at or past the last end."""
    if not ends or committed >= ends[-1][1]:
        return 0.0
    offsets = [end for _, end in ends]
    i = bisect.bisect_left(offsets, committed)  # first sample whose end reached it
    if i == 0:
        return max(0.0, now - ends[0][0])
    (t0, e0), (t1, e1) = ends[i - 1], ends[i]
    reached = t0 + (t1 - t0) * (committed - e0) / (e1 - e0)
    return max(0.0, now - reached)


def longest_flat(samples: Sequence[Sample]) -> float:
    """The longest time the stored count did not grow while the router's committed position
    on ``telemetry.raw`` did (the writers stalled with the router busy)."""
    longest = 0.0
    since: Sample | None = None  # the sample the stored count last grew at
    for previous, sample in zip(samples, samples[1:], strict=False):
        if sample.stored_total > previous.stored_total:
            since = None
            continue
        if sample.raw_committed > previous.raw_committed:
            since = since or previous
            longest = max(longest, sample.elapsed - since.elapsed)
    return longest


class Offsets:
    """End offsets and a consumer group's committed offsets, summed per topic."""

    def __init__(self, bootstrap: str, group: str, partitions: int) -> None:
        self.admin = AdminClient(client_config(bootstrap))
        self.group = group
        self.tps = [TopicPartition(topic, p) for topic in (RAW, *ROUTED.values())
                    for p in range(partitions)]

    def ends(self) -> dict[str, int]:
        futures = self.admin.list_offsets({tp: OffsetSpec.latest() for tp in self.tps},
                                          request_timeout=5)
        sums: dict[str, int] = {}
        for tp, future in futures.items():
            sums[tp.topic] = sums.get(tp.topic, 0) + max(0, future.result().offset)
        return sums

    def committed(self) -> dict[str, int]:
        request = [ConsumerGroupTopicPartitions(self.group, self.tps)]
        result = self.admin.list_consumer_group_offsets(request, request_timeout=5)
        sums: dict[str, int] = {}
        for tp in result[self.group].result().topic_partitions:
            sums[tp.topic] = sums.get(tp.topic, 0) + max(0, tp.offset)
        return sums


@dataclass
class Backfill:
    """One backlog run: the input, the callbacks, and (once ``run``) the samples."""

    devices: int = DEFAULT_DEVICES
    hours: float = DEFAULT_HOURS
    env: Mapping[str, str] = field(default_factory=dict)  # worker settings (A/B runs)
    interval: float = 1.0
    progress_every: float = 5.0
    on_sample: list[SampleHook] = field(default_factory=list)
    on_end: list[EndHook] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def measure(self, stack: Stack, partitions: int) -> dict[str, Any]:
        started = time.monotonic()
        messages = backlog(self.devices, self.hours)
        log(f"backfill: {len(messages):,} single-reading messages of {2 * self.devices:,} "
            f"devices ({self.hours:g} h) encoded in {time.monotonic() - started:.1f}s")
        with running(stack, "backfill", partitions, env=dict(self.env)) as r:
            return self.run(r, messages)

    def run(self, r: Running, messages: list[Message]) -> dict[str, Any]:
        sc = r.sc
        offsets = Offsets(sc.bootstrap, sc.app_id, sc.partitions)
        baseline = sum(int(sc.query(sql)[0][0]) for sql in STORED.values())
        expected = baseline + len(messages)
        publish: dict[str, float] = {}
        failure: list[BaseException] = []

        def publish_all() -> None:
            try:
                r.publisher.send(messages, timeout=600)
            except BaseException as exc:  # noqa: BLE001 - reported by the sampling loop
                failure.append(exc)
            publish["end"] = time.monotonic() - t0

        ends: dict[str, list[tuple[float, int]]] = {kind: [] for kind in ROUTED}
        lag_s: dict[str, list[float]] = {kind: [] for kind in ROUTED}
        timeout = max(300.0, len(messages) / 1_000)
        log(f"backfill: publishing {len(messages):,} messages; sampling every "
            f"{self.interval:g}s")
        t0 = time.monotonic()
        publisher = threading.Thread(target=publish_all, name="backfill-publish", daemon=True)
        publisher.start()
        last_line = 0.0
        done: float | None = None
        import psycopg

        with psycopg.connect(sc.dsn, autocommit=True) as conn:
            while done is None:
                time.sleep(max(0.0, t0 + len(self.samples) * self.interval - time.monotonic()))
                sample = self.sample(offsets, conn, r, time.monotonic() - t0)
                self.samples.append(sample)
                for kind in ROUTED:
                    ends[kind].append((sample.elapsed, sample.routed_end[kind]))
                    lag_s[kind].append(lag_seconds(ends[kind], sample.routed_committed[kind],
                                                   sample.elapsed))
                for hook in self.on_sample:
                    hook(sc, sample.elapsed, sample)
                exited = r.workers[0].proc.poll()
                if sample.stored_total >= expected:
                    done = sample.elapsed
                elif exited is not None:  # the stall watchdog, say; nothing restarts it here
                    stalled = [line for line in r.workers[0].log().splitlines()
                               if "stalled" in line]
                    raise RuntimeError(f"backfill: the worker exited with {exited} after "
                                       f"{sample.elapsed:.0f}s, {sample.stored_total - baseline:,}"
                                       f" readings stored; {stalled[-1] if stalled else ''}")
                elif failure:
                    raise RuntimeError(f"backfill: publishing failed: {failure[0]}")
                elif sample.elapsed > timeout:
                    raise TimeoutError(f"backfill: {sample.stored_total - baseline:,} of "
                                       f"{len(messages):,} readings stored after {timeout:.0f}s")
                if sample.elapsed - last_line >= self.progress_every or done is not None:
                    last_line = sample.elapsed
                    log(progress_line(sample, {k: v[-1] for k, v in lag_s.items()},
                                      len(messages), baseline))
        publisher.join()
        result = self.summary(len(messages), done, publish.get("end"), lag_s)
        result["verified"] = verify(sc, expected, 2 * self.devices + r.probes)
        result["worker_peak_rss_mb"] = r.peak_rss_mb()
        for end_hook in self.on_end:
            end_hook(sc, result)
        log(f"backfill: {result['readings']:,} readings in {result['seconds']:.1f}s = "
            f"{result['readings_per_s']:,.0f}/s; routed lag max {result['max_lag_records']} "
            f"records, {result['max_lag_seconds']:.1f}s (p95 {result['p95_lag_seconds']:.1f}s); "
            f"stored count flat for at most {result['longest_flat_seconds']:.1f}s")
        return result

    def sample(self, offsets: Offsets, conn: Any, r: Running, elapsed: float) -> Sample:
        ends, committed = offsets.ends(), offsets.committed()
        stored = {kind: int(conn.execute(sql).fetchone()[0]) for kind, sql in STORED.items()}
        return Sample(elapsed, ends.get(RAW, 0), committed.get(RAW, 0),
                      {k: ends.get(t, 0) for k, t in ROUTED.items()},
                      {k: committed.get(t, 0) for k, t in ROUTED.items()},
                      metric_sum(r.workers[0].url, "energy_readings_accepted_total", 2), stored)

    def summary(self, readings: int, seconds: float | None, published: float | None,
                lag_s: Mapping[str, list[float]]) -> dict[str, Any]:
        samples = self.samples
        assert seconds is not None
        lag_records = {k: [s.routed_lag(k) for s in samples] for k in ROUTED}
        every_s = [max(vals) for vals in zip(*lag_s.values(), strict=True)]
        every_r = [sum(vals) for vals in zip(*lag_records.values(), strict=True)]
        return {
            "devices": 2 * self.devices, "hours": self.hours, "readings": readings,
            "messages": readings, "worker_env": dict(self.env),
            "seconds": round(seconds, 1), "publish_seconds": round(published or 0.0, 1),
            "readings_per_s": rate(readings, seconds),
            "max_lag_records": max(every_r), "p95_lag_records": round(percentile(every_r, 95)),
            "max_lag_seconds": round(max(every_s), 1),
            "p95_lag_seconds": round(percentile(every_s, 95), 1),
            "by_topic": {ROUTED[k]: {"max_lag_records": max(lag_records[k]),
                                     "max_lag_seconds": round(max(lag_s[k]), 1),
                                     "p95_lag_seconds": round(percentile(lag_s[k], 95), 1)}
                         for k in ROUTED},
            "longest_flat_seconds": round(longest_flat(samples), 1),
            "samples": len(samples), "interval_s": self.interval,
        }


def progress_line(s: Sample, lag_s: Mapping[str, float], messages: int, baseline: int) -> str:
    lags = ", ".join(f"{k} {s.routed_lag(k):,} rec/{lag_s[k]:.1f}s" for k in ROUTED)
    return (f"backfill: {s.elapsed:6.1f}s raw {s.raw_end:,} published, {s.raw_committed:,} "
            f"routed (of {messages:,}); routed lag {lags}; stored "
            f"{s.stored_total - baseline:,}")


def measure(stack: Stack, partitions: int, devices: int = DEFAULT_DEVICES,
            hours: float = DEFAULT_HOURS, env: Mapping[str, str] | None = None,
            on_sample: Sequence[SampleHook] = (), on_end: Sequence[EndHook] = ()
            ) -> dict[str, Any]:
    run = Backfill(devices, hours, dict(env or {}), on_sample=list(on_sample),
                   on_end=list(on_end))
    return run.measure(stack, partitions)
