"""Candidate HTTP servers for the ingest gateway (issue 20), measured side by side.

Each candidate (Granian RSGI, Granian ASGI, uvicorn + httptools + uvloop, aiohttp) is started as
a subprocess on a free port with 1 and with 2 processes, serving ``POST /v1/telemetry`` in two
variants (benchmarks/http_server_apps.py): ``ceiling`` answers 202 without reading the JSON,
``validate`` judges it with the product's ``validate_message``; nothing is published. The
project's load client (benchmarks/http_load.py) keeps ``--concurrency`` keep-alive connections
busy with single-reading POSTs (distinct devices and timestamps) for a warm-up, then measures.
The server's CPU (every process of its tree, from psutil) over the measured interval, divided by
the requests, is what a gateway process would spend per request before publishing.

The load client runs in this process and shares the machine's cores with the server: its CPU is
reported too. With ``node`` on the PATH, the two best candidates are driven once more by a
Node.js ``http`` keep-alive client (benchmarks/http_load_node.mjs, the issue's kind of client),
to see whether the Python client limits the figures.

    .venv/bin/python -m benchmarks.http_servers [--seconds 10] [--concurrency 50]
        [--processes 1 2] [--reverse] [--only granian-rsgi,aiohttp] [--no-node]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import psutil

from benchmarks.cpu import cpu_seconds, with_children
from benchmarks.fleet_input import encode, generate
from benchmarks.http_load import Load, encode_requests, run_load
from benchmarks.http_server_apps import PATH, VARIANTS
from benchmarks.stats import latency_summary, rate
from processor.ops.embedded import free_port

HOST = "127.0.0.1"
RESULTS = Path(__file__).parent / "results" / "http_servers.json"
NODE_CLIENT = Path(__file__).parent / "http_load_node.mjs"
PACKAGES = ("granian", "uvicorn", "httptools", "uvloop", "aiohttp")


@dataclass(frozen=True)
class Candidate:
    name: str
    description: str

    def command(self, variant: str, port: int, processes: int) -> list[str]:
        """The command line that serves ``variant`` on ``port`` with ``processes`` processes."""
        py = sys.executable
        if self.name.startswith("granian-"):
            interface = self.name.removeprefix("granian-")
            return [py, "-m", "granian", "--interface", interface, "--host", HOST,
                    "--port", str(port), "--workers", str(processes), "--loop", "uvloop",
                    "--http", "1", "--no-ws", "--no-access-log", "--log-level", "warning",
                    f"benchmarks.http_server_apps:{interface}_{variant}"]
        if self.name == "uvicorn":
            return [py, "-m", "uvicorn", "--host", HOST, "--port", str(port),
                    "--workers", str(processes), "--loop", "uvloop", "--http", "httptools",
                    "--no-access-log", "--log-level", "warning",
                    f"benchmarks.http_server_apps:asgi_{variant}"]
        if self.name == "aiohttp":
            return [py, "-m", "benchmarks.http_server_apps", "aiohttp", "--variant", variant,
                    "--host", HOST, "--port", str(port), "--processes", str(processes)]
        raise ValueError(f"unknown candidate {self.name}")


CANDIDATES = (
    Candidate("granian-rsgi", "Granian 2 (Rust, hyper), RSGI app, uvloop"),
    Candidate("granian-asgi", "Granian 2 (Rust, hyper), bare ASGI app, uvloop"),
    Candidate("uvicorn", "uvicorn + httptools + uvloop, bare ASGI app"),
    Candidate("aiohttp", "aiohttp web.Application, uvloop, SO_REUSEPORT per process"),
)


@dataclass(frozen=True)
class Run:
    candidate: Candidate
    processes: int
    variant: str


def plan_runs(candidates: Sequence[Candidate], processes: Sequence[int],
              variants: Sequence[str] = VARIANTS, reverse: bool = False) -> list[Run]:
    """Every (processes, candidate, variant), the ceiling right before its validate run; with
    ``reverse`` the whole order is turned around, to alternate between passes."""
    runs = [Run(c, n, v) for n in processes for c in candidates for v in variants]
    return runs[::-1] if reverse else runs


def per_request_us(cpu_seconds: float, requests: int) -> float | None:
    return round(cpu_seconds / requests * 1e6, 1) if requests else None


def all_accepted(statuses: dict[int, int], errors: int, requests: int) -> bool:
    """Whether every answer of the run was a 202 (and at least one came)."""
    return requests > 0 and errors == 0 and statuses == {202: requests}


def best_configs(results: Iterable[dict[str, Any]], count: int = 2) -> list[tuple[str, int]]:
    """The ``count`` candidates with the most validated requests/s (each at its best process
    count), among runs whose answers were all 202."""
    best: dict[str, tuple[float, int]] = {}
    for r in results:
        if r["variant"] != "validate" or not r["all_202"]:
            continue
        if r["requests_per_s"] > best.get(r["server"], (-1.0, 0))[0]:
            best[r["server"]] = (r["requests_per_s"], r["processes"])
    ranked = sorted(best.items(), key=lambda item: -item[1][0])
    return [(name, processes) for name, (_, processes) in ranked[:count]]


def table(results: Sequence[dict[str, Any]]) -> str:
    head = ("| server | processes | variant | client | requests/s | p50 ms | p99 ms "
            "| server CPU us/request | server cores | client cores | all 202 |")
    lines = [head, "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(
            f"| {r['server']} | {r['processes']} | {r['variant']} | {r['client']} "
            f"| {r['requests_per_s']:,.0f} | {r.get('p50_ms', 0):.2f} | {r.get('p99_ms', 0):.2f} "
            f"| {r['server_cpu_us_per_request'] or 0:.1f} | {r['server_cores']:.2f} "
            f"| {r['client_cores']:.2f} | {'yes' if r['all_202'] else 'NO'} |")
    return "\n".join(lines)


# --- processes ---------------------------------------------------------------------------------



class CpuSnapshot:
    """CPU seconds of fixed processes between construction and ``stop()``."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        self.procs = procs
        self.before = [cpu_seconds(p) for p in procs]
        self.started = time.monotonic()

    def stop(self) -> tuple[list[float], float]:
        """CPU seconds of each process, and the wall seconds elapsed."""
        return ([round(cpu_seconds(p) - b, 3) for p, b in zip(self.procs, self.before,
                                                               strict=True)],
                time.monotonic() - self.started)


def wait_ready(url: str, probe: list[tuple[bytes, int]], server: subprocess.Popen[bytes],
               timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} before serving")
        try:
            load, _ = run_load(url, probe, 1, 0.001)
        except OSError:
            time.sleep(0.1)
            continue
        if 202 in load.statuses:
            return
        raise RuntimeError(f"POST {PATH} answered {load.statuses} to a valid reading")
    raise RuntimeError(f"the server did not answer on {url} within {timeout:g}s")


def stop_server(server: subprocess.Popen[bytes], timeout: float = 15.0) -> dict[str, Any]:
    """SIGTERM, as a supervisor would; the seconds it took to exit, or a SIGKILL of its
    process group (it was started in a session of its own) when it did not."""
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout)
        out: dict[str, Any] = {"exit_code": code,
                               "shutdown_s": round(time.monotonic() - started, 2)}
    except subprocess.TimeoutExpired:
        out = {"exit_code": None, "shutdown_s": None, "killed": True}
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # whatever of its tree is left
    server.wait()
    return out


# --- one measurement ---------------------------------------------------------------------------

@dataclass
class Measured:
    load: Load
    elapsed: float  # the client's measured interval
    procs: list[psutil.Process]  # the server's
    server_cpu: list[float]  # seconds, by process
    wall: float  # seconds between the CPU snapshots
    client_cpu: float


def measure(run: Run, bodies: list[bytes], bodies_file: Path | None, seconds: float,
            concurrency: int, warmup: float, client: str, log_file: IO[bytes]) -> dict[str, Any]:
    port = free_port(HOST)
    url = f"http://{HOST}:{port}{PATH}"
    requests = encode_requests(url, [(body, 1) for body in bodies])
    server = subprocess.Popen(run.candidate.command(run.variant, port, run.processes),
                              stdout=log_file, stderr=subprocess.STDOUT,
                              start_new_session=True)
    out: dict[str, Any] = {"server": run.candidate.name, "processes": run.processes,
                           "variant": run.variant, "client": client,
                           "concurrency": concurrency}
    try:
        wait_ready(url, requests[:1], server)
        if client == "python":
            m = python_load(url, requests, server.pid, concurrency, warmup, seconds)
        else:
            assert bodies_file is not None
            m = node_load(url, bodies_file, server.pid, concurrency, warmup, seconds)
    finally:
        out.update(stop_server(server))
    total = sum(m.server_cpu)
    load = m.load
    out.update({
        "requests": load.requests, "seconds": round(m.elapsed, 2),
        "requests_per_s": rate(load.requests, m.elapsed),
        "statuses": load.statuses, "errors": load.errors,
        "all_202": all_accepted(load.statuses, load.errors, load.requests),
        **(latency_summary(load.latencies) if load.latencies else {}),
        "server_processes": len(m.procs), "server_cpu_s": round(total, 3),
        "server_cpu_s_by_process": m.server_cpu,
        "server_cpu_us_per_request": per_request_us(total, load.requests),
        "server_cores": round(total / m.wall, 2),
        "client_cpu_s": round(m.client_cpu, 3),
        "client_cpu_us_per_request": per_request_us(m.client_cpu, load.requests),
        "client_cores": round(m.client_cpu / m.wall, 2),
    })
    return out


def python_load(url: str, requests: list[tuple[bytes, int]], server_pid: int,
                concurrency: int, warmup: float, seconds: float) -> Measured:
    """The project's load client, in this process."""
    run_load(url, requests, concurrency, warmup)
    procs = with_children(server_pid)  # every worker is up after the warm-up
    server_cpu = CpuSnapshot(procs)
    client_cpu = CpuSnapshot([psutil.Process()])
    load, elapsed = run_load(url, requests, concurrency, seconds)
    per_process, wall = server_cpu.stop()
    (client_seconds,), _ = client_cpu.stop()
    return Measured(load, elapsed, procs, per_process, wall, client_seconds)


def node_load(url: str, bodies_file: Path, server_pid: int, concurrency: int, warmup: float,
              seconds: float) -> Measured:
    """The same load from the Node.js client; CPU counted from its 'measure' line to its
    result line."""
    node = subprocess.Popen(["node", str(NODE_CLIENT), url, str(bodies_file), str(concurrency),
                             str(warmup), str(seconds)], stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        first = json.loads(node.stdout.readline() or "{}")
        if first.get("phase") != "measure":
            raise RuntimeError(f"the Node client said {first!r}")
        procs = with_children(server_pid)
        server_cpu = CpuSnapshot(procs)
        client_cpu = CpuSnapshot([psutil.Process(node.pid)])
        result = json.loads(node.stdout.readline() or "{}")
        per_process, wall = server_cpu.stop()
        (client_seconds,), _ = client_cpu.stop()
    finally:
        node.wait(30)
    load = Load(requests=result["requests"], errors=result["errors"],
                latencies=[ms / 1000 for ms in result["latencies_ms"]],
                statuses={int(k): v for k, v in result["statuses"].items()})
    return Measured(load, float(result["seconds"]), procs, per_process, wall, client_seconds)


# --- the run -----------------------------------------------------------------------------------

def python_loop_seconds() -> float:
    """A pure-Python loop's time: how busy the host is (the other benchmarks' yardstick)."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - started, 3)


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release(), "packages": versions}


def single_bodies() -> list[bytes]:
    """200,000 single readings: 10,000 meters and 10,000 vehicles over 10 minutes, two hours
    ago (distinct devices and timestamps, as benchmarks/http_ingest.py posts them)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    data = generate(10_000, 10, start=start)
    return [encode(r) for r in data.readings]


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Candidate HTTP servers for the gateway")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", help="comma-separated candidates: "
                        + ", ".join(c.name for c in CANDIDATES))
    parser.add_argument("--reverse", action="store_true",
                        help="run in the reverse order (alternate it between passes)")
    parser.add_argument("--no-node", action="store_true",
                        help="skip the Node.js client's check of the two best candidates")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    candidates = [c for c in CANDIDATES
                  if not args.only or c.name in args.only.split(",")]
    runs = plan_runs(candidates, args.processes, reverse=args.reverse)
    bodies = single_bodies()
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.http_servers", *(argv or sys.argv[1:])]),
        "machine": machine(), "seconds": args.seconds, "warmup": args.warmup,
        "concurrency": args.concurrency, "python_loop_s_before": python_loop_seconds(),
        "note": "the load client shares the machine's cores with the server under test",
        "runs": [], "node_runs": []}
    with tempfile.TemporaryDirectory(prefix="http-servers-") as tmp:
        bodies_file = Path(tmp) / "bodies.ndjson"
        bodies_file.write_bytes(b"\n".join(bodies))
        with open(Path(tmp) / "servers.log", "wb") as server_log:
            for run in runs:
                report["runs"].append(one(run, bodies, None, args, "python", server_log))
            node = shutil.which("node")
            if node and not args.no_node:
                by_name = {c.name: c for c in candidates}
                for name, processes in best_configs(report["runs"]):
                    for variant in VARIANTS:
                        report["node_runs"].append(one(Run(by_name[name], processes, variant),
                                                       bodies, bodies_file, args, "node",
                                                       server_log))
            elif not node:
                report["node_runs_skipped"] = "node is not on the PATH"
        server_output = (Path(tmp) / "servers.log").read_text(errors="replace")
    report["python_loop_s_after"] = python_loop_seconds()
    report["server_output_tail"] = server_output.splitlines()[-20:]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(table([r for r in report["runs"] + report["node_runs"] if "error" not in r]))
    for r in report["runs"] + report["node_runs"]:
        if "error" in r:
            print(f"FAILED {r['server']} x{r['processes']} {r['variant']}: {r['error']}")
    print(f"figures in {args.output}; the load client shares the {os.cpu_count()} cores "
          "with the server (client cores column)")
    failed = any("error" in r or not r["all_202"] for r in report["runs"] + report["node_runs"])
    return 1 if failed else 0


def one(run: Run, bodies: list[bytes], bodies_file: Path | None,
        args: argparse.Namespace, client: str, server_log: IO[bytes]) -> dict[str, Any]:
    log(f"{run.candidate.name} x{run.processes} {run.variant} ({client} client)")
    try:
        result = measure(run, bodies, bodies_file, args.seconds, args.concurrency, args.warmup,
                         client, server_log)
    except Exception as exc:  # noqa: BLE001 - one candidate's failure is reported, not fatal
        return {"server": run.candidate.name, "processes": run.processes,
                "variant": run.variant, "client": client, "error": repr(exc)}
    log(f"  {result['requests_per_s']:,.0f} requests/s, p50 {result.get('p50_ms', 0):.2f} ms, "
        f"p99 {result.get('p99_ms', 0):.2f} ms, server {result['server_cpu_us_per_request']} "
        f"us/request ({result['server_cores']} cores), client {result['client_cores']} cores, "
        f"statuses {result['statuses']}, shutdown {result.get('shutdown_s')} s")
    return result


if __name__ == "__main__":
    sys.exit(main())
