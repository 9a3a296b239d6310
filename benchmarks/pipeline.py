"""End to end: from the first publish until every reading is committed in history, live state
and hourly rollups, with real worker processes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.cpu import CpuMeter, harness_pid
from benchmarks.env import Scenario, Stack, log
from benchmarks.fleet_input import Input, Message, encode, probe_readings
from benchmarks.kafka import Publisher
from benchmarks.stats import rate
from benchmarks.workers import WORKER, Worker, start_worker, wait_for_assignment

ROLLUP_READINGS = """SELECT (SELECT coalesce(sum(readings), 0) FROM meter_hourly)
                          + (SELECT coalesce(sum(readings), 0) FROM vehicle_hourly)"""


@dataclass
class Run:
    readings: int
    messages: int
    seconds: float
    publish_seconds: float
    cpu_seconds: dict[str, float]
    peak_rss_mb: list[float | None]
    verified: bool

    def as_dict(self) -> dict[str, Any]:
        return {"readings": self.readings, "messages": self.messages,
                "seconds": round(self.seconds, 3),
                "readings_per_s": rate(self.readings, self.seconds),
                "publish_seconds": round(self.publish_seconds, 3),
                "cpu_seconds": self.cpu_seconds, "worker_peak_rss_mb": self.peak_rss_mb,
                "verified": self.verified}


def start_workers(sc: Scenario, count: int, env: dict[str, str] | None = None,
                  module: str = WORKER) -> list[Worker]:
    workers = []
    for _ in range(count):
        worker = start_worker(sc.bootstrap, sc.dsn, sc.app_id, sc.directory, sc.partitions,
                              env, module=module)
        sc.workers.append(worker)
        workers.append(worker)
    wait_for_assignment(workers, sc.partitions)
    return workers


def warm_up(sc: Scenario, publisher: Publisher, timeout: float = 60) -> int:
    """Publish a meter and a vehicle reading to every partition and wait until all are in the
    live tables: the workers are then assigned, connected and writing. Returns the readings."""
    probes = probe_readings(sc.partitions, sc.app_id[-6:],
                            datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2))
    publisher.send([((r.get("vehicleId") or r["meterId"]).encode(), encode(r))
                    for r in probes])
    wait_for_count(sc, "SELECT (SELECT count(*) FROM meter_live) + "
                       "(SELECT count(*) FROM vehicle_live)", len(probes), timeout, 0.05)
    return len(probes)


def wait_for_count(sc: Scenario, sql: str, expected: int, timeout: float,
                   interval: float) -> float:
    """Poll ``sql`` (one number) until it reaches ``expected``; the monotonic time it did."""
    import psycopg

    deadline = time.monotonic() + timeout
    last = 0
    with psycopg.connect(sc.dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
            last = int(row[0]) if row and row[0] is not None else 0
            if last >= expected:
                return time.monotonic()
            time.sleep(interval)
    raise TimeoutError(f"{sc.name}: {last} of {expected} after {timeout}s")


def verify(sc: Scenario, readings: int, devices: int) -> bool:
    """History holds every reading once, live every device, rollups every reading."""
    history = sc.query("SELECT (SELECT count(*) FROM meter_history) + "
                       "(SELECT count(*) FROM vehicle_history)")[0][0]
    live = sc.query("SELECT (SELECT count(*) FROM meter_live) + "
                    "(SELECT count(*) FROM vehicle_live)")[0][0]
    rollups = sc.query(ROLLUP_READINGS)[0][0]
    ok = history == readings and live == devices and rollups == readings
    if not ok:
        log(f"{sc.name}: MISMATCH history {history}, live {live}, rollups {rollups}; "
            f"expected {readings} readings of {devices} devices")
    return bool(ok)


@dataclass
class Running:
    """A warmed-up pipeline: its scenario, worker processes and a connected publisher."""

    sc: Scenario
    workers: list[Worker]
    publisher: Publisher
    probes: int  # probe readings (and devices) warm-up added
    postmaster: int | None

    def peak_rss_mb(self) -> list[float | None]:
        return [w.peak_rss_mb() for w in self.workers]


@contextlib.contextmanager
def running(stack: Stack, name: str, partitions: int, workers: int = 1,
            env: dict[str, str] | None = None, module: str = WORKER) -> Iterator[Running]:
    """A scenario with ``workers`` warmed-up workers (``env``: settings for them; ``module``:
    what runs them, ``benchmarks.workers.WORKER_WITH_INGEST`` for the in-worker HTTP path)."""
    with stack.scenario(name, partitions) as sc:
        started = time.monotonic()
        procs = start_workers(sc, workers, env, module)
        publisher = Publisher(sc.bootstrap)
        sc.on_close(publisher.close)
        probes = warm_up(sc, publisher)
        log(f"{name}: {workers} worker(s) ready in {time.monotonic() - started:.1f}s")
        yield Running(sc, procs, publisher, probes, stack.postmaster_pid())


def timed(r: Running, name: str, data: Input, messages: list[Message],
          poll: float = 0.1) -> Run:
    """Publish ``messages`` (all of ``data``, readings not yet in the database) and time them
    until history, live and rollups hold them all."""
    sc = r.sc
    baseline = int(sc.query(ROLLUP_READINGS)[0][0])
    log(f"{name}: publishing {len(data.readings):,} readings in {len(messages):,} messages")
    cpu = CpuMeter({"workers": [w.pid for w in r.workers], "postgres": [r.postmaster],
                    "broker": [sc.broker.proc.pid], "harness": [harness_pid()]})
    cpu.start()
    t0 = time.monotonic()
    r.publisher.send(messages)
    published = time.monotonic() - t0
    expected = baseline + len(data.readings)
    done = wait_for_count(sc, ROLLUP_READINGS, expected,
                          timeout=max(120.0, len(data.readings) / 500), interval=poll)
    seconds = done - t0
    cpu_seconds = cpu.stop()
    ok = verify(sc, expected, data.devices + r.probes)
    run = Run(len(data.readings), len(messages), seconds, published, cpu_seconds,
              r.peak_rss_mb(), ok)
    log(f"{name}: {run.readings:,} readings in {seconds:.2f}s = "
        f"{rate(run.readings, seconds):,.0f} readings/s (publish took {published:.2f}s; "
        f"CPU s {cpu_seconds})")
    return run


def measure(stack: Stack, name: str, data: Input, messages: list[Message], partitions: int,
            workers: int = 1) -> Run:
    """A fresh pipeline for one measurement."""
    with running(stack, name, partitions, workers) as r:
        return timed(r, name, data, messages)
