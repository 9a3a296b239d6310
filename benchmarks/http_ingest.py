"""HTTP ingest, three ways in one run: through the gateway, in the worker, and the ceiling.

- **gateway**: ``POST /v1/telemetry`` through ``energy-ingest gateway`` (``GATEWAY_PROCESSES``:
  the core count unless set), as users reach it: single readings at a fixed concurrency, then
  batches.
- **in-worker**: the same single POSTs to the worker's own route (benchmarks/worker_ingest.py),
  the path the system had before the gateway tier.
- **ceiling**: the gateway's HTTP server (Granian, RSGI, as many processes) answering 202 to the
  same POSTs without reading, validating or publishing them
  (``benchmarks/http_server_apps.py``): what the server alone costs on this machine.
- **node** (benchmarks/http_node.py): single POSTs from the Node.js client to the gateway, then
  to the reference server (benchmarks/reference/: Fastify, a buffer in memory, multi-row
  INSERTs), with every accepted reading looked for in the history and CPU by process.

The load generator (benchmarks/http_load.py, keep-alive connections on this process's event
loop) shares the machine's cores with the system; the CPU each part used is in the JSON, and
per request for each tier's own processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks import http_node, pipeline
from benchmarks.cpu import CpuMeter, harness_pid, with_children
from benchmarks.env import Stack, log
from benchmarks.fleet_input import encode, generate
from benchmarks.http_load import Load, encode_requests, run_load
from benchmarks.http_servers import CANDIDATES, HOST, wait_ready
from benchmarks.stats import latency_summary, rate
from benchmarks.workers import (
    WORKER_WITH_INGEST,
    metric_sum,
    peak_rss_mb,
    start_gateway,
    stop_process,
)
from db.api_keys import insert_key, revoke_key
from processor.domain.api_keys import make_key
from processor.ops.embedded import free_port
from processor.settings import Settings

PATH = "/v1/telemetry"
# the in-worker path, measured for comparison (benchmarks/worker_ingest.py)
WORKER_MODULE = WORKER_WITH_INGEST


def summary(load: Load, elapsed: float) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": load.requests, "seconds": round(elapsed, 2),
                           "requests_per_s": rate(load.requests, elapsed),
                           "readings_per_s": rate(load.readings, elapsed),
                           "statuses": load.statuses, "errors": load.errors}
    if load.latencies:
        out.update(latency_summary(load.latencies))
    return out


def drained(worker_url: str, timeout: float = 180) -> None:
    """Until the worker has consumed everything published so far (its consumer lag is 0)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric_sum(worker_url, "energy_consumer_lag") == 0:
            return
        time.sleep(0.5)
    log(f"http: the worker still lags after {timeout:g}s; measuring anyway")


@contextlib.contextmanager
def paused(workers: list[Any]) -> Iterator[None]:
    for w in workers:
        os.kill(w.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for w in workers:
            os.kill(w.pid, signal.SIGCONT)


def key_cost(dsn: str, run: Callable[[str, dict[str, str] | None], dict[str, Any]],
             rounds: int = 3) -> dict[str, Any]:
    """Single POSTs against the same gateway, open (no key exists) and with an ingest key, in
    turns (open, keyed, open, ..., open): what judging a key costs (issue 22: at most 5%).
    One pair of runs differs by up to 10% on this machine either way; the turns average it."""
    runs: list[dict[str, Any]] = [run("no key (open), turn 1", None)]
    for turn in range(1, rounds + 1):
        key = make_key()
        insert_key(dsn, key, ["ingest"], "benchmark")  # known at its first request
        runs.append(run(f"an ingest key, turn {turn}",
                        {"Authorization": f"Bearer {key.token}"}))
        revoke_key(dsn, key.key_id)
        time.sleep(2.5)  # the gateway reads the keys again (API_KEYS_REFRESH_SECONDS=1): open
        runs.append(run(f"no key (open), turn {turn + 1}", None))
    opened = [r for i, r in enumerate(runs) if i % 2 == 0]
    keyed = [r for i, r in enumerate(runs) if i % 2 == 1]

    def mean(rows: list[dict[str, Any]], field: str) -> float:
        values = [r[field] for r in rows if r.get(field) is not None]
        return sum(values) / len(values) if values else 0.0

    open_rps, keyed_rps = mean(opened, "requests_per_s"), mean(keyed, "requests_per_s")
    return {"runs": runs, "open_rps": round(open_rps), "keyed_rps": round(keyed_rps),
            "open_rps_each": [r["requests_per_s"] for r in opened],
            "keyed_rps_each": [r["requests_per_s"] for r in keyed],
            "keyed_statuses": [r["statuses"] for r in keyed],
            "open_cpu_us": round(mean(opened, "server_cpu_us_per_request"), 1),
            "keyed_cpu_us": round(mean(keyed, "server_cpu_us_per_request"), 1),
            "cost": round(1 - keyed_rps / open_rps, 3) if open_rps else None}


def measure(stack: Stack, vehicles: int, seconds: float, concurrency: int, batch_size: int,
            batch_concurrency: int, partitions: int) -> dict[str, Any]:
    with pipeline.running(stack, "http", partitions, module=WORKER_MODULE) as r:
        out = measure_on(r, vehicles, seconds, concurrency, batch_size, batch_concurrency,
                         stack=stack, node=False)
    out["node"] = node_phase(stack, seconds, partitions)
    return out


def node_phase(stack: Stack, seconds: float, partitions: int) -> dict[str, Any]:
    """The Node-client phase on a system of its own, as ``up`` starts it (a fresh broker,
    database, worker and gateway with the default process count): the embedded broker keeps
    every record in memory and grows dearer with what the earlier phases left on it (measured:
    237 us of broker CPU a POST after them, 30 on a fresh one), where the reference starts
    from a fresh database too."""
    with pipeline.running(stack, "http-node", partitions) as r:
        processes = Settings().gateway_process_count
        gateway = start_gateway(r.sc.bootstrap, [r.workers[0].url], r.sc.directory, processes,
                                DATABASE_URL=r.sc.dsn)
        r.sc.on_close(gateway.stop)
        return node_client(r, gateway, stack, seconds)


@contextlib.contextmanager
def ceiling_server(processes: int) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Granian serving the RSGI ceiling app (202 without a look at the body), with the
    gateway's server settings."""
    granian = next(c for c in CANDIDATES if c.name == "granian-rsgi")
    port = free_port()
    command = granian.command("ceiling", port, processes)
    command[command.index("--http") + 1] = "auto"  # as the gateway serves
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        yield f"http://{HOST}:{port}", server
    finally:
        stop_process(server, 15)


def measure_on(r: pipeline.Running, vehicles: int, seconds: float, concurrency: int,
               batch_size: int, batch_concurrency: int, stack: Stack | None = None,
               node: bool = True) -> dict[str, Any]:
    """The phases on a running worker; ``stack``: where the Node phase's reference gets its
    fresh database (else beside the worker's); ``node``: whether that phase runs."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    data = generate(vehicles, 10, start=start)
    single_bodies = [(encode(reading), 1) for reading in data.readings]
    batch_bodies = [(encode(data.readings[i:i + batch_size]), batch_size)
                    for i in range(0, len(data.readings) - batch_size + 1, batch_size)]
    worker = r.workers[0]
    processes = Settings().gateway_process_count  # as `up` starts it (GATEWAY_PROCESSES)
    system: dict[str, list[int | None]] = {
        "workers": [w.pid for w in r.workers], "postgres": [r.postmaster],
              "broker": [r.sc.broker.proc.pid], "harness": [harness_pid()]}

    def run(name: str, url: str, bodies: list[tuple[bytes, int]], conc: int,
            tier: dict[str, list[int | None]], drain: bool = True,
            headers: dict[str, str] | None = None) -> dict[str, Any]:
        if drain:
            drained(worker.url)  # each phase on a system that has done the last one's work
        requests = encode_requests(url + PATH, bodies, headers=headers)
        run_load(url + PATH, requests, conc, 1.0)  # warm-up
        cpu = CpuMeter({**system, **tier}, whole=("postgres", "gateway", "ceiling"))
        log(f"http: {name}, concurrency {conc}, {seconds:g}s")
        raw_before = metric_sum(worker.url, "energy_raw_messages_total")
        cpu.start()
        out = summary(*run_load(url + PATH, requests, conc, seconds))
        out["cpu_seconds"] = dict(cpu.stop())
        if drain:  # the Kafka messages the readings came in, once all are consumed
            drained(worker.url)
            raw_after = metric_sum(worker.url, "energy_raw_messages_total")
            if raw_before is not None and raw_after is not None and raw_after > raw_before:
                out["readings_per_message"] = round(
                    out["readings_per_s"] * out["seconds"] / (raw_after - raw_before), 1)
        own = sum(out["cpu_seconds"][group] for group in tier)
        out["server_cpu_us_per_request"] = (round(own / out["requests"] * 1e6, 1)
                                            if out["requests"] else None)
        log(f"http: {name}: {out['requests_per_s']:,.0f} requests/s = "
            f"{out['readings_per_s']:,.0f} readings/s, p50 {out.get('p50_ms', 0):.1f} ms, "
            f"p99 {out.get('p99_ms', 0):.1f} ms, {out['server_cpu_us_per_request']} us of "
            f"server CPU a request, statuses {out['statuses']}")
        return out

    # The path before the gateway tier: the worker's own aiohttp route.
    probe, _ = run_load(worker.url + PATH, encode_requests(worker.url + PATH,
                                                           single_bodies[:1]), 1, 0.001)
    if 202 not in probe.statuses:
        return {"skipped": f"the worker's POST {PATH} answered {probe.statuses} to a valid "
                           "reading (not run by benchmarks.worker_ingest?)"}
    in_worker = run("in-worker single POSTs", worker.url, single_bodies, concurrency,
                    {"workers": system["workers"]})

    # With the database, as `up` starts it: the API keys are read from it (none yet: open).
    gateway = start_gateway(r.sc.bootstrap, [worker.url], r.sc.directory, processes,
                            DATABASE_URL=r.sc.dsn, API_KEYS_REFRESH_SECONDS="1")
    r.sc.on_close(gateway.stop)
    tier: dict[str, list[int | None]] = {"gateway": [gateway.pid]}
    single = run(f"gateway single POSTs ({processes} processes)", gateway.url, single_bodies,
                 concurrency, tier)
    batch = run(f"gateway batch POSTs of {batch_size:,}", gateway.url, batch_bodies,
                batch_concurrency, tier)
    # The gateway tier alone: the workers stopped (SIGSTOP) while it is measured, as on a
    # deployment where the tiers do not share two cores; they catch up afterwards.
    with paused(r.workers):
        single_alone = run("gateway single POSTs, workers paused", gateway.url,
                           single_bodies, concurrency, tier, drain=False)
        batch_alone = run("gateway batch POSTs, workers paused", gateway.url, batch_bodies,
                          batch_concurrency, tier, drain=False)

    def alone(name: str, headers: dict[str, str] | None) -> dict[str, Any]:
        drained(worker.url)  # the last phase's backlog; a pause past STALL_SECONDS ends a worker
        with paused(r.workers):
            return run(f"gateway single POSTs, workers paused, {name}", gateway.url,
                       single_bodies, concurrency, tier, drain=False, headers=headers)

    keys = key_cost(r.sc.dsn, alone)
    gateway_rss = [peak_rss_mb(proc.pid) for proc in with_children(gateway.pid)]
    node_phase = (node_client(r, gateway, stack, seconds) if node
                  else {"skipped": "not asked (node=False)"})
    gateway.stop()

    with ceiling_server(processes) as (url, server):
        wait_ready(url + PATH, encode_requests(url + PATH, single_bodies[:1]), server)
        ceiling = run(f"ceiling single POSTs ({processes} processes)", url, single_bodies,
                      concurrency, {"ceiling": [int(server.pid)]})

    return {"processes": processes,
            "single": {"concurrency": concurrency, **single},
            "batch": {"concurrency": batch_concurrency, "batch_size": batch_size, **batch},
            "in_worker": {"concurrency": concurrency, **in_worker},
            "ceiling": {"concurrency": concurrency, **ceiling},
            "single_workers_paused": {"concurrency": concurrency, **single_alone},
            "batch_workers_paused": {"concurrency": batch_concurrency, "batch_size": batch_size,
                                     **batch_alone},
            "alone_single_rps": single_alone["requests_per_s"],
            "alone_single_p99_ms": single_alone.get("p99_ms"),
            "alone_to_ceiling": round(single_alone["requests_per_s"]
                                      / ceiling["requests_per_s"], 2)
            if ceiling["requests_per_s"] else None,
            "alone_batch_readings_per_s": batch_alone["readings_per_s"],
            "api_keys": keys,
            "node": node_phase,
            "api_key_cost": keys["cost"],
            "single_rps": single["requests_per_s"], "single_p50_ms": single.get("p50_ms"),
            "single_p99_ms": single.get("p99_ms"),
            "single_cpu_us": single["server_cpu_us_per_request"],
            "in_worker_rps": in_worker["requests_per_s"],
            "in_worker_p99_ms": in_worker.get("p99_ms"),
            "in_worker_cpu_us": in_worker["server_cpu_us_per_request"],
            "ceiling_rps": ceiling["requests_per_s"],
            "ceiling_p99_ms": ceiling.get("p99_ms"),
            "ceiling_cpu_us": ceiling["server_cpu_us_per_request"],
            "to_in_worker": round(single["requests_per_s"] / in_worker["requests_per_s"], 2)
            if in_worker["requests_per_s"] else None,
            "to_ceiling": round(single["requests_per_s"] / ceiling["requests_per_s"], 2)
            if ceiling["requests_per_s"] else None,
            "batch_readings_per_s": batch["readings_per_s"],
            "batch_p99_ms": batch.get("p99_ms"),
            "note": "the load generator (keep-alive connections on one event loop in the "
                    "harness process) shares the cores with the system",
            "worker_peak_rss_mb": [worker.peak_rss_mb()],
            "gateway_peak_rss_mb": gateway_rss}


def node_client(r: pipeline.Running, gateway: Any, stack: Stack | None,
                seconds: float) -> dict[str, Any]:
    """The Node-client phase (benchmarks/http_node.py): this gateway, then the reference
    server, ``seconds`` measured each after the client's 3 s warm-up; the gateway is stopped
    in between."""
    worker = r.workers[0]

    def reference_database() -> contextlib.AbstractContextManager[str]:
        return (stack.database("node_reference") if stack is not None
                else http_node.fresh_database(r.sc.dsn, "node_reference"))

    try:
        return http_node.measure(
            gateway_url=gateway.url, gateway_pid=gateway.pid, broker_pid=r.sc.broker.proc.pid,
            worker_pids=[w.pid for w in r.workers], postmaster=r.postmaster, dsn=r.sc.dsn,
            directory=r.sc.directory, drain=lambda: drained(worker.url),
            reference_database=reference_database, after_ours=gateway.stop, seconds=seconds)
    except Exception as exc:  # the section's other phases stay measured
        log(f"http: the Node client phase failed: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
