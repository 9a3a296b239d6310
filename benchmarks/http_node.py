"""The HTTP section's Node-client phase (issue 31, parts 1 and 2): single-reading POSTs from
Node.js's ``http`` (benchmarks/http_load_node.mjs: keep-alive, 50 connections, a 3 s warm-up
then 10 s measured, 10,000 devices, each body a reading of its own device and minute, none sent
twice), against

- **ours**: the gateway the HTTP section started, in front of the running worker; afterwards,
  once the worker has consumed everything, the history must have grown by exactly the readings
  answered 202 (warm-up included);
- **the reference**: benchmarks/reference/ (Fastify and ``pg``: 202 once a reading is checked
  and buffered in memory, multi-row INSERTs every 500 readings or 2 s, a crash loses the
  buffer), in the same run, against a fresh database of the same PostgreSQL; after its last
  flush (SIGTERM) the history must hold exactly the readings it answered 202.

For each: requests/s, latency percentiles, and the CPU time (psutil) every process used between
the client's end of warm-up and its result, per POST: each gateway process, the broker, each
worker, PostgreSQL (postmaster and backends summed), the Node client; for the reference its
server and PostgreSQL (our idle worker and broker shown apart, as background). "ours" sums our
processes, the client excluded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks.cpu import cpu_seconds, with_children
from benchmarks.env import log
from benchmarks.fleet_input import encode, generate
from benchmarks.stats import latency_summary, rate, ratio
from db.migrate import migrate
from processor.ops.embedded import free_port

HERE = Path(__file__).resolve().parent
NODE_CLIENT = HERE / "http_load_node.mjs"
REFERENCE = HERE / "reference"
REFERENCE_SERVER = REFERENCE / "server.mjs"
REFERENCE_PACKAGES = ("fastify", "pg")
PATH = "/v1/telemetry"

CONCURRENCY = 50
WARMUP_S = 3.0
SECONDS = 10.0
DEVICES = 10_000  # meters and vehicles, half each
# The bodies cover this many requests a second over warm-up and measurement, so that no
# reading is sent twice (the client stops when they run out, and the result says so).
MAX_RPS = 25_000

HISTORY = ("SELECT (SELECT count(*) FROM meter_history) + "
           "(SELECT count(*) FROM vehicle_history)")


# --- what to send ------------------------------------------------------------------------------

def minutes_needed(devices: int, max_rps: float, seconds: float) -> int:
    """Minutes of fleet readings (one per device a minute) for ``max_rps`` requests a second
    over ``seconds`` without sending a reading twice."""
    return max(1, math.ceil(max_rps * seconds / devices))


def tagged(reading: dict[str, Any], tag: str) -> dict[str, Any]:
    """The reading with its device ids (and a vehicle's meter) prefixed by ``tag``: devices
    no other phase of the run has sent, so none of these readings is a duplicate."""
    out = dict(reading)
    for key in ("meterId", "vehicleId"):
        if out.get(key) is not None:
            out[key] = f"{tag}-{out[key]}"
    return out


def write_bodies(path: Path, devices: int, minutes: int, end: datetime, tag: str) -> int:
    """One JSON reading a line, ``devices`` devices (half meters, half vehicles) over
    ``minutes`` minutes ending at ``end``: each device and minute once. Returns the count."""
    data = generate(max(1, devices // 2), minutes, start=end - timedelta(minutes=minutes))
    with open(path, "wb") as out:
        for reading in data.readings:
            out.write(encode(tagged(reading, tag)))
            out.write(b"\n")
    return len(data.readings)


# --- the client's output -----------------------------------------------------------------------

@dataclass(frozen=True)
class ClientResult:
    """The Node client's result line."""

    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: int
    latencies_ms: list[float]
    warmup_requests: int
    warmup_statuses: dict[int, int]
    warmup_errors: int
    sent: int | None
    exhausted: bool

    @property
    def accepted(self) -> int:
        """Readings answered 202, warm-up included (one reading a request)."""
        return self.statuses.get(202, 0) + self.warmup_statuses.get(202, 0)


def parse_client_result(line: str) -> ClientResult:
    """The client's last line (benchmarks/http_load_node.mjs); fields the older client did not
    print (the warm-up's) are 0."""
    doc = json.loads(line)
    if not isinstance(doc, dict) or "requests" not in doc:
        raise ValueError(f"not the Node client's result: {line[:200]!r}")

    def statuses(value: Any) -> dict[int, int]:
        return {int(k): int(v) for k, v in (value or {}).items()}

    return ClientResult(
        requests=int(doc["requests"]), seconds=float(doc["seconds"]),
        statuses=statuses(doc.get("statuses")), errors=int(doc.get("errors", 0)),
        latencies_ms=[float(v) for v in doc.get("latencies_ms", [])],
        warmup_requests=int(doc.get("warmup_requests", 0)),
        warmup_statuses=statuses(doc.get("warmup_statuses")),
        warmup_errors=int(doc.get("warmup_errors", 0)),
        sent=int(doc["sent"]) if doc.get("sent") is not None else None,
        exhausted=bool(doc.get("exhausted", False)))


def client_summary(result: ClientResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requests": result.requests, "seconds": round(result.seconds, 2),
        "requests_per_s": rate(result.requests, result.seconds),
        "statuses": result.statuses, "errors": result.errors,
        "warmup": {"requests": result.warmup_requests, "statuses": result.warmup_statuses,
                   "errors": result.warmup_errors},
        "sent": result.sent, "bodies_ran_out": result.exhausted,
        "accepted_readings": result.accepted}
    if result.latencies_ms:
        out.update(latency_summary([ms / 1000 for ms in result.latencies_ms]))
    return out


# --- CPU by process ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Watched:
    """A process (tree) whose CPU the phase reports."""

    group: str  # gateway, broker, worker, postgres, client, reference
    pid: int | None
    split: bool = True  # each process of the tree on a line of its own; else the tree summed
    ours: bool = True  # counted in the system's total (the client and the background are not)
    background: bool = False  # another system, idle meanwhile (shown, not counted)


def tree_cpu(pid: int | None) -> dict[int, tuple[str, float]]:
    """pid -> (what it runs, CPU seconds so far) of a process and its descendants, now."""
    out: dict[int, tuple[str, float]] = {}
    for proc in with_children(pid):
        out[proc.pid] = (process_name(proc), cpu_seconds(proc))
    return out


def process_name(proc: psutil.Process) -> str:
    """Its command line, or its name once it has exited (a zombie, as the client is when its
    last line is read: its CPU times are still there to read)."""
    with contextlib.suppress(psutil.Error):
        return command_of(proc.cmdline()) or proc.name()
    with contextlib.suppress(psutil.Error):
        return proc.name()
    return "?"


def command_of(argv: list[str], width: int = 80) -> str:
    """A command line shortened for a table: the program's file name and its arguments."""
    if not argv:
        return ""
    text = " ".join([Path(argv[0]).name, *argv[1:]])
    return text if len(text) <= width else text[:width - 3] + "..."


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (every core, every process)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0)
                 + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0))


def cpu_deltas(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """CPU seconds each process used between two samples: one that started in between counts
    from 0; one that ended in between is not in ``after`` and counts nothing (its last seconds
    are unknown)."""
    return {pid: round(max(0.0, seconds - before.get(pid, 0.0)), 4)
            for pid, seconds in after.items()}


@dataclass
class CpuSampler:
    """CPU of each watched tree between ``start()`` and ``stop()``, by process."""

    watched: list[Watched]
    before: list[dict[int, tuple[str, float]]] = field(default_factory=list)
    started: float = 0.0
    machine_before: float = 0.0
    machine_s: float = 0.0  # the machine's busy CPU seconds between start and stop

    def start(self) -> None:
        self.before = [tree_cpu(w.pid) for w in self.watched]
        self.machine_before = machine_busy_seconds()
        self.started = time.monotonic()

    def stop(self) -> tuple[list[dict[str, Any]], float]:
        """One row per process (per tree when not split), and the wall seconds."""
        after = [tree_cpu(w.pid) for w in self.watched]
        wall = time.monotonic() - self.started
        self.machine_s = machine_busy_seconds() - self.machine_before
        rows: list[dict[str, Any]] = []
        for w, then, now in zip(self.watched, self.before, after, strict=True):
            used = cpu_deltas({p: s for p, (_, s) in then.items()},
                              {p: s for p, (_, s) in now.items()})
            base = {"group": w.group, "ours": w.ours, "background": w.background}
            if w.split:
                rows.extend({**base, "pid": pid, "name": now[pid][0],
                             "role": "main" if pid == w.pid else "child", "cpu_s": seconds}
                            for pid, seconds in used.items())
            else:
                rows.append({**base, "pid": w.pid, "name": now.get(w.pid or -1, ("?", 0))[0],
                             "processes": len(used), "cpu_s": round(sum(used.values()), 4)})
        return rows, wall


def per_post(rows: list[dict[str, Any]], posts: int, wall: float,
             machine_s: float | None = None) -> dict[str, Any]:
    """The CPU table: each row with its microseconds a POST and cores busy, the microseconds a
    POST of each group, of all our processes (the client and the background excluded), of the
    client; with ``machine_s`` (the machine's busy CPU seconds meanwhile) the cores busy in
    all and those used by processes not in the table (others' work on a shared machine)."""
    def us(seconds: float) -> float | None:
        return round(seconds / posts * 1e6, 1) if posts else None

    table = [{**row, "us_per_post": us(row["cpu_s"]),
              "cores": round(row["cpu_s"] / wall, 2) if wall > 0 else None} for row in rows]
    groups: dict[str, float] = {}
    for row in rows:
        name = f"background {row['group']}" if row["background"] else row["group"]
        groups[name] = groups.get(name, 0.0) + row["cpu_s"]
    ours = sum(r["cpu_s"] for r in rows if r["ours"] and not r["background"])
    client = sum(r["cpu_s"] for r in rows if r["group"] == "client")
    machine: dict[str, Any] = {}
    if machine_s is not None and wall > 0:
        listed = sum(r["cpu_s"] for r in rows)
        machine = {"machine_cores_busy": round(machine_s / wall, 2),
                   "other_cores_busy": round(max(0.0, machine_s - listed) / wall, 2)}
    return {"wall_s": round(wall, 2), **machine, "processes": table,
            "us_per_post_by_group": {name: us(seconds) for name, seconds in groups.items()},
            "cpu_s_by_group": {name: round(seconds, 3) for name, seconds in groups.items()},
            "ours_us_per_post": us(ours), "client_us_per_post": us(client)}


# --- one drive ---------------------------------------------------------------------------------

def drive(url: str, bodies: Path, watched: list[Watched], concurrency: int = CONCURRENCY,
          warmup: float = WARMUP_S, seconds: float = SECONDS) -> dict[str, Any]:
    """The Node client against ``url`` (each body once) and the CPU of ``watched`` and of the
    client from the end of its warm-up to its result."""
    node = subprocess.Popen(["node", str(NODE_CLIENT), url, str(bodies), str(concurrency),
                             str(warmup), str(seconds), "once"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        first = node.stdout.readline()
        if json.loads(first or "{}").get("phase") != "measure":
            raise RuntimeError(f"the Node client said {first[:300]!r} instead of its end of "
                               "warm-up (too few bodies?)")
        sampler = CpuSampler([*watched, Watched("client", node.pid, split=False, ours=False)])
        sampler.start()
        line = node.stdout.readline()
        rows, wall = sampler.stop()
    finally:
        try:
            node.wait(30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
    result = parse_client_result(line)
    out = {"url": url, "concurrency": concurrency, "warmup_s": warmup, **client_summary(result)}
    out["cpu"] = per_post(rows, result.requests, wall, sampler.machine_s)
    return out


def history_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(HISTORY).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


def wait_for_history(dsn: str, expected: int, timeout: float) -> int:
    """The history's row count once it reaches ``expected``, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        count = history_count(dsn)
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.25)


def stored_check(before: int, after: int, accepted: int) -> dict[str, Any]:
    """Did the history grow by exactly the readings answered 202?"""
    return {"history_before": before, "history_after": after, "stored": after - before,
            "accepted": accepted, "exact": after - before == accepted}


def describe(name: str, out: dict[str, Any]) -> str:
    cpu = out["cpu"]
    groups = ", ".join(f"{g} {v}" for g, v in cpu["us_per_post_by_group"].items())
    return (f"http: Node client -> {name}: {out['requests_per_s']:,.0f} requests/s, "
            f"p50 {out.get('p50_ms', 0):.1f} ms, p99 {out.get('p99_ms', 0):.1f} ms, "
            f"statuses {out['statuses']} (warm-up {out['warmup']['statuses']}); CPU us a POST: "
            f"{groups}; all its processes {cpu['ours_us_per_post']}; machine "
            f"{cpu.get('machine_cores_busy')} cores busy, {cpu.get('other_cores_busy')} of "
            f"them by others; stored {out['verified']['stored']} of "
            f"{out['verified']['accepted']} accepted")


# --- the two systems ---------------------------------------------------------------------------

def measure_ours(gateway_url: str, gateway_pid: int, broker_pid: int | None,
                 worker_pids: list[int], postmaster: int | None, dsn: str, bodies: Path,
                 drain: Callable[[], None], **load: Any) -> dict[str, Any]:
    """The gateway, the broker, the workers and PostgreSQL, under the Node client."""
    drain()  # what earlier phases published is consumed and stored
    before = history_count(dsn)
    watched = [Watched("gateway", gateway_pid), Watched("broker", broker_pid),
               *(Watched("worker", pid) for pid in worker_pids),
               Watched("postgres", postmaster, split=False)]
    out = drive(gateway_url + PATH, bodies, watched, **load)
    drain()
    after = wait_for_history(dsn, before + out["accepted_readings"], timeout=60)
    out["verified"] = stored_check(before, after, out["accepted_readings"])
    log(describe("ours", out))
    return out


def node_database_url(conninfo: str) -> str:
    """A libpq connection string (key=value or URL) as the URL ``pg`` takes; a Unix socket
    directory goes in ``?host=``."""
    params = conninfo_to_dict(conninfo)
    user = quote(str(params.get("user") or ""), safe="")
    password = quote(str(params.get("password") or ""), safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(params.get("host") or "")
    port = str(params.get("port") or "")
    dbname = quote(str(params.get("dbname") or ""), safe="")
    if host.startswith("/"):
        query = f"?host={quote(host, safe='/')}" + (f"&port={port}" if port else "")
        return f"postgresql://{auth}/{dbname}{query}"
    return f"postgresql://{auth}{host}{':' + port if port else ''}/{dbname}"


@contextlib.contextmanager
def fresh_database(dsn: str, name: str) -> Iterator[str]:
    """A fresh database migrated with the project's migrations, on the server of ``dsn``,
    dropped afterwards (``Stack.database`` when the harness has no Stack at hand)."""
    dbname = f"bench_{name}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')  # type: ignore[arg-type]
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    fresh = make_conninfo(**params)  # type: ignore[arg-type]
    try:
        migrate(fresh)
        yield fresh
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')  # type: ignore[arg-type]


def missing_node() -> str | None:
    """Why no Node.js phase can run here, or None."""
    return None if shutil.which("node") else "node is not on the PATH"


def reference_installed(directory: Path = REFERENCE) -> bool:
    return all((directory / "node_modules" / name / "package.json").is_file()
               for name in REFERENCE_PACKAGES)


def ensure_reference_packages(directory: Path = REFERENCE) -> None:
    """``npm ci`` into the reference's node_modules (the versions its package-lock.json pins)
    when they are missing."""
    if reference_installed(directory):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"the reference server needs its npm packages ({directory}/"
                           "node_modules is missing) and npm is not on the PATH: install "
                           "Node.js 20 with npm, or run `npm ci` there")
    log(f"http: npm ci in {directory}")
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=directory,
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0 or not reference_installed(directory):
        raise RuntimeError(f"npm ci in {directory} failed (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout)[-1500:]}")


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the reference server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the reference server did not answer on {url} within {timeout:g}s")


def last_json_line(path: Path) -> dict[str, Any]:
    """The last line of a file that is a JSON object, or {}."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            doc = json.loads(line)
            if isinstance(doc, dict):
                return doc
    return {}


def measure_reference(dsn: str, postmaster: int | None, bodies: Path, directory: Path,
                      background: list[Watched], **load: Any) -> dict[str, Any]:
    """benchmarks/reference/ against ``dsn`` (a fresh, migrated database), under the same
    client; then SIGTERM (its last flush) and the history's count."""
    ensure_reference_packages()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out_path, err_path = directory / "reference-stdout.log", directory / "reference.log"
    with open(out_path, "wb") as out_file, open(err_path, "wb") as err_file:
        server = subprocess.Popen(["node", str(REFERENCE_SERVER)], cwd=REFERENCE,
                                  env={**os.environ, "DATABASE_URL": node_database_url(dsn),
                                       "PORT": str(port), "HOST": "127.0.0.1"},
                                  stdout=out_file, stderr=err_file, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    try:
        wait_healthy(url, server)
        before = history_count(dsn)
        watched = [Watched("reference", server.pid), Watched("postgres", postmaster, split=False),
                   *background]
        out = drive(url + PATH, bodies, watched, **load)
    finally:
        stopped = time.monotonic()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # it writes what it buffers, then exits
        try:
            code: int | None = server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            code = None
    after = history_count(dsn)
    out["verified"] = stored_check(before, after, out["accepted_readings"])
    out["server"] = {"exit_code": code, "stop_s": round(time.monotonic() - stopped, 2),
                     "says": last_json_line(out_path), "log": str(err_path)}
    log(describe("the reference", out))
    return out


def ours_figures(node: dict[str, Any]) -> None:
    """The headline figures beside the two sides (report.py's keys)."""
    ours, ref = node.get("ours", {}), node.get("reference", {})
    node["ours_rps"] = ours.get("requests_per_s")
    node["ours_p50_ms"] = ours.get("p50_ms")
    node["ours_p99_ms"] = ours.get("p99_ms")
    node["ours_cpu_us_per_post"] = ours.get("cpu", {}).get("ours_us_per_post")
    node["ours_verified"] = ours.get("verified", {}).get("exact")
    node["reference_rps"] = ref.get("requests_per_s")
    node["reference_p50_ms"] = ref.get("p50_ms")
    node["reference_p99_ms"] = ref.get("p99_ms")
    node["reference_cpu_us_per_post"] = ref.get("cpu", {}).get("ours_us_per_post")
    node["reference_verified"] = ref.get("verified", {}).get("exact")
    node["ratio"] = ratio(node["ours_rps"], node["reference_rps"])


def measure(*, gateway_url: str, gateway_pid: int, broker_pid: int | None,
            worker_pids: list[int], postmaster: int | None, dsn: str, directory: Path,
            drain: Callable[[], None],
            reference_database: Callable[[], contextlib.AbstractContextManager[str]],
            after_ours: Callable[[], None] | None = None, concurrency: int = CONCURRENCY,
            warmup: float = WARMUP_S, seconds: float = SECONDS, devices: int = DEVICES,
            max_rps: float = MAX_RPS) -> dict[str, Any]:
    """Ours, then (``after_ours`` called: the gateway stopped) the reference, under the Node
    client; {"skipped": why} without node."""
    why = missing_node()
    if why:
        log(f"http: Node client phase skipped: {why}")
        return {"skipped": why}
    minutes = minutes_needed(devices, max_rps, warmup + seconds)
    tag = f"n{uuid.uuid4().hex[:4]}"
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    bodies = directory / "node-bodies.jsonl"
    count = write_bodies(bodies, devices, minutes, end, tag)
    log(f"http: Node client phase: {count:,} readings of {devices:,} devices ({tag}-*), "
        f"concurrency {concurrency}, {warmup:g} s warm-up, {seconds:g} s measured")
    load = {"concurrency": concurrency, "warmup": warmup, "seconds": seconds}
    node: dict[str, Any] = {"devices": devices, "readings_in_bodies": count,
                            "concurrency": concurrency, "warmup_s": warmup, "seconds": seconds}
    try:
        node["ours"] = measure_ours(gateway_url, gateway_pid, broker_pid, worker_pids,
                                    postmaster, dsn, bodies, drain, **load)
        if after_ours is not None:
            after_ours()
        background = [Watched("broker", broker_pid, split=False, ours=False, background=True),
                      *(Watched("worker", pid, split=False, ours=False, background=True)
                        for pid in worker_pids)]
        try:
            with reference_database() as ref_dsn:
                node["reference"] = measure_reference(ref_dsn, postmaster, bodies, directory,
                                                      background, **load)
        except Exception as exc:  # ours stays measured
            log(f"http: the reference was not measured: {type(exc).__name__}: {exc}")
            node["reference"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    finally:
        bodies.unlink(missing_ok=True)
    ours_figures(node)
    log(f"http: Node client: ours / reference = {node['ratio']}, p99 ours "
        f"{node['ours_p99_ms']} ms, reference {node['reference_p99_ms']} ms")
    return node
