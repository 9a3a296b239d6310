"""HTTP ingest: ``POST /v1/telemetry`` with single readings at a fixed concurrency, then with
batches. The load generator (benchmarks/http_load.py, keep-alive connections on this process's
event loop) shares the machine's cores with the worker, the broker and PostgreSQL; the CPU each
of them used is in the JSON."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import pipeline
from benchmarks.cpu import CpuMeter, harness_pid
from benchmarks.env import Stack, log
from benchmarks.fleet_input import encode, generate
from benchmarks.http_load import Load, drive, encode_requests
from benchmarks.stats import latency_summary, rate

PATH = "/v1/telemetry"


def run_load(url: str, requests: list[tuple[bytes, int]], concurrency: int,
             seconds: float) -> tuple[Load, float]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(drive(url, requests, concurrency, seconds))
    return uvloop.run(drive(url, requests, concurrency, seconds))


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
    worker = r.workers[0]
    url = worker.url + PATH
    singles = encode_requests(url, [(encode(r), 1) for r in data.readings])
    batches = encode_requests(url, [
        (encode(data.readings[i:i + batch_size]), batch_size)
        for i in range(0, len(data.readings) - batch_size + 1, batch_size)])
    probe, _ = run_load(url, singles[:1], 1, 0.001)
    if 202 not in probe.statuses:
        return {"skipped": f"POST {PATH} answered {probe.statuses} to a valid reading"}
    run_load(url, singles, concurrency, 1.0)  # warm-up
    cpu = CpuMeter({"workers": [w.pid for w in r.workers], "postgres": [r.postmaster],
                    "broker": [r.sc.broker.proc.pid], "harness": [harness_pid()]})
    log(f"http: single-reading POSTs, concurrency {concurrency}, {seconds:g}s")
    cpu.start()
    single = summary(*run_load(url, singles, concurrency, seconds))
    single["cpu_seconds"] = dict(cpu.stop())
    log(f"http: single {single['requests_per_s']:,.0f} requests/s, "
        f"p99 {single.get('p99_ms', 0):.0f} ms, statuses {single['statuses']}")
    log(f"http: batch POSTs of {batch_size:,}, concurrency {batch_concurrency}, "
        f"{seconds:g}s")
    cpu.start()
    batch = summary(*run_load(url, batches, batch_concurrency, seconds))
    batch["cpu_seconds"] = dict(cpu.stop())
    log(f"http: batch {batch['requests_per_s']:,.0f} requests/s = "
        f"{batch['readings_per_s']:,.0f} readings/s, p99 {batch.get('p99_ms', 0):.0f} ms")
    peak = worker.peak_rss_mb()
    return {"single": {"concurrency": concurrency, **single},
            "batch": {"concurrency": batch_concurrency, "batch_size": batch_size, **batch},
            "single_rps": single["requests_per_s"], "single_p99_ms": single.get("p99_ms"),
            "batch_readings_per_s": batch["readings_per_s"],
            "batch_p99_ms": batch.get("p99_ms"),
            "note": "the load generator (keep-alive connections on one event loop in the "
                    "harness process) shares the cores with the system",
            "worker_peak_rss_mb": [peak]}
