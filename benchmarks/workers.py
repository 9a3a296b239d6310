"""Worker processes under measurement: start, wait until ready, peak memory, stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from processor.ops.embedded import free_port

# Where subprocesses (workers, gateways, reference consumers) run, so ``python -m processor...``
# finds the product code measured: this checkout, or, under ``--against``, an overlay of this
# harness and REV's product code (benchmarks/against.py).
ROOT = Path(os.environ.get("BENCH_PRODUCT_ROOT") or Path(__file__).resolve().parent.parent)
OWNS = re.compile(r"worker owns partitions \[([0-9, ]*)\]")


@dataclass
class Worker:
    """An ``energy-ingest worker`` (or ``gateway``) subprocess, as ``up`` starts it."""

    proc: subprocess.Popen[bytes]
    web_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def owned_partitions(self) -> set[int] | None:
        """The raw-topic partitions of the last assignment it logged, None before any."""
        found = OWNS.findall(self.log())
        if not found:
            return None
        return {int(p) for p in found[-1].split(",") if p.strip()}

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.pid)

    def stop(self, timeout: float = 20, graceful: bool = True) -> None:
        """SIGTERM and wait; or, once a measurement is over, SIGKILL (a clean stop takes
        seconds and proves nothing here)."""
        if self.proc.poll() is None and not graceful:
            self.proc.kill()
            self.proc.wait()
        stop_process(self.proc, timeout)


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM and wait up to ``timeout``, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mb(pid: int) -> float | None:
    """The kernel's high-water mark of a process's resident memory (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# The worker as users run it, and one that also serves POST /v1/telemetry itself (the path
# before the gateway tier, benchmarks/worker_ingest.py).
WORKER = "processor.ops.cli"
WORKER_WITH_INGEST = "benchmarks.worker_ingest"


def start_worker(bootstrap: str, dsn: str, app_id: str, directory: Path, partitions: int,
                 env: dict[str, str] | None = None, timeout: float = 90,
                 module: str = WORKER) -> Worker:
    """Start a worker (``env``: settings for it) and return once it answers /healthz."""
    return _start("worker", directory, timeout, module=module, env={
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": dsn, "DATA_DIR": str(directory),
        "KAFKA_EMBEDDED": "true",  # the benchmarks' broker is the embedded one
        "APP_ID": app_id, "TELEMETRY_PARTITIONS": str(partitions), **(env or {})})


def start_gateway(bootstrap: str, worker_urls: list[str], directory: Path, processes: int,
                  timeout: float = 60, **env: str) -> Worker:
    """Start ``energy-ingest gateway`` in front of ``worker_urls``; once it answers /healthz."""
    return _start("gateway", directory, timeout, env={
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "WORKER_URLS": ",".join(worker_urls),
        "GATEWAY_PROCESSES": str(processes), **env})


def _start(command: str, directory: Path, timeout: float, env: dict[str, str],
           module: str = WORKER) -> Worker:
    port = free_port()
    log_path = directory / f"{command}-{port}.log"
    full_env = {**os.environ, "WEB_PORT": str(port), **env}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module, command],
                                env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                stdin=subprocess.DEVNULL)
    started = Worker(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{command} exited with {proc.returncode}; "
                               f"log:\n{started.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{started.url}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return started
        except OSError:
            pass
        time.sleep(0.1)
    started.stop()
    raise TimeoutError(f"{command} not healthy within {timeout}s; "
                       f"log:\n{started.log()[-3000:]}")


def wait_for_assignment(workers: list[Worker], partitions: int, timeout: float = 60) -> None:
    """Until every worker owns some raw partitions and together they own them all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned = [w.owned_partitions() for w in workers]
        if all(owned) and sum(len(o) for o in owned if o) == partitions and set().union(
                *(o for o in owned if o)) == set(range(partitions)):
            return
        time.sleep(0.1)
    raise TimeoutError(f"partitions not split between {len(workers)} workers in {timeout}s")


def metric_sum(url: str, name: str, timeout: float = 3.0) -> int | None:
    """The sum of a metric's samples on a worker's ``/metrics`` (``url`` is the worker's base
    address); None when the worker does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == name))
