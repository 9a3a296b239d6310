"""HTTP ingest: ``POST /v1/telemetry`` with single readings at a fixed concurrency, then with
batches. The load generator is an asyncio aiohttp client in this process: it shares the
machine's cores with the worker, the broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from benchmarks import pipeline
from benchmarks.env import Stack, log
from benchmarks.fleet_input import encode, generate
from benchmarks.stats import latency_summary, rate

PATH = "/v1/telemetry"
HEADERS = {"Content-Type": "application/json"}


@dataclass
class Load:
    requests: int = 0
    readings: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


async def drive(url: str, bodies: list[tuple[bytes, int]], concurrency: int,
                seconds: float) -> tuple[Load, float]:
    """POST bodies (cycling) from ``concurrency`` clients for ``seconds``; (load, elapsed)."""
    load = Load()
    cursor = iter(range(1 << 62))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                body, count = bodies[next(cursor) % len(bodies)]
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=HEADERS) as reply:
                        await reply.read()
                        status = reply.status
                except (TimeoutError, aiohttp.ClientError):
                    load.errors += 1
                    continue
                load.latencies.append(time.perf_counter() - t0)
                load.statuses[status] = load.statuses.get(status, 0) + 1
                load.requests += 1
                if status == 202:
                    load.readings += count

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return load, elapsed


def summary(load: Load, elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": load.requests, "seconds": round(elapsed, 2),
                           "requests_per_s": rate(load.requests, elapsed),
                           "readings_per_s": rate(load.readings, elapsed),
                           "statuses": load.statuses, "errors": load.errors}
    if load.latencies:
        out.update(latency_summary(load.latencies))
    return out


def measure(stack: Stack, vehicles: int, seconds: float, concurrency: int, batch_size: int,
            batch_concurrency: int, partitions: int) -> dict[str, Any]:
    with pipeline.running(stack, "http", partitions) as r:
        return measure_on(r, vehicles, seconds, concurrency, batch_size, batch_concurrency)


def measure_on(r: pipeline.Running, vehicles: int, seconds: float, concurrency: int,
               batch_size: int, batch_concurrency: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    data = generate(vehicles, 10, start=start)
    singles = [(encode(r), 1) for r in data.readings]
    batches = [(encode(data.readings[i:i + batch_size]), batch_size)
               for i in range(0, len(data.readings) - batch_size + 1, batch_size)]
    worker = r.workers[0]
    url = worker.url + PATH
    probe, _ = asyncio.run(drive(url, singles[:1], 1, 0.001))
    if 202 not in probe.statuses:
        return {"skipped": f"POST {PATH} answered {probe.statuses} to a valid reading"}
    asyncio.run(drive(url, singles, concurrency, 1.0))  # warm-up
    log(f"http: single-reading POSTs, concurrency {concurrency}, {seconds:g}s")
    single = summary(*asyncio.run(drive(url, singles, concurrency, seconds)))
    log(f"http: single {single['requests_per_s']:,.0f} requests/s, "
        f"p99 {single.get('p99_ms', 0):.0f} ms, statuses {single['statuses']}")
    log(f"http: batch POSTs of {batch_size:,}, concurrency {batch_concurrency}, "
        f"{seconds:g}s")
    batch = summary(*asyncio.run(drive(url, batches, batch_concurrency, seconds)))
    log(f"http: batch {batch['requests_per_s']:,.0f} requests/s = "
        f"{batch['readings_per_s']:,.0f} readings/s, p99 {batch.get('p99_ms', 0):.0f} ms")
    peak = worker.peak_rss_mb()
    return {"single": {"concurrency": concurrency, **single},
            "batch": {"concurrency": batch_concurrency, "batch_size": batch_size, **batch},
            "single_rps": single["requests_per_s"], "single_p99_ms": single.get("p99_ms"),
            "batch_readings_per_s": batch["readings_per_s"],
            "batch_p99_ms": batch.get("p99_ms"),
            "note": "load generator (one asyncio process) shares the cores with the system",
            "worker_peak_rss_mb": [peak]}
