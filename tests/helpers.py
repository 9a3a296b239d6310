"""Shared test helpers: waiting, publishing, reading topics and the database."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil
import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from processor.kafka.producer import producer_config
from processor.ops.embedded import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def wait_until(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.25,
               what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def uid() -> str:
    return uuid.uuid4().hex[:8]


def publish(bootstrap: str, values: Iterable[bytes | str | dict[str, Any] | list[Any]],
            topic: str = "telemetry.raw", key: Callable[[Any], bytes | None] | None = None,
            compression: str | None = None) -> int:
    """Publish each value (dicts and lists as JSON); returns how many the broker acked.
    ``compression``: a codec instead of the producers' own (lz4)."""
    codec = {"compression.type": compression} if compression else {}
    producer = Producer(producer_config(bootstrap, **codec))
    acked = []

    def on_delivery(err: Any, _msg: Any) -> None:
        assert err is None, err
        acked.append(1)

    n = 0
    for value in values:
        k = key(value) if key else None
        if isinstance(value, (dict, list)):
            if k is None and isinstance(value, dict):
                device = value.get("vehicleId") or value.get("meterId")
                k = device.encode() if isinstance(device, str) else None
            value = json.dumps(value)
        producer.produce(topic, value=value, key=k, on_delivery=on_delivery)
        n += 1
        producer.poll(0)
    producer.flush(30)
    assert len(acked) == n, f"{n - len(acked)} messages not acked"
    return n


def read_topic(bootstrap: str, topic: str, match: Callable[[bytes], bool],
               expected: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Read ``topic`` from the beginning until ``expected`` matching JSON records are seen."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uid()}",
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if match(msg.value()):
                found.append(json.loads(msg.value()))
        # a little longer, to catch records that should not be there
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error() and match(msg.value()):
                found.append(json.loads(msg.value()))
        return found
    finally:
        consumer.close()


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


@dataclass
class Gateway:
    """An ``energy-ingest gateway`` process in front of workers."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        return stop_process(self.proc, sig, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


WORKER_COMMAND = [sys.executable, "-m", "processor.ops.cli", "worker"]
OWNS = re.compile(r"worker owns partitions \[([\d, ]*)\]")  # its log line at each assignment


@dataclass
class Worker:
    """An ``energy-ingest worker`` process on the test services, with a gateway in front of it
    (``url``: as users reach the system) unless started without one."""

    proc: subprocess.Popen[bytes]
    web_port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    gateway: Gateway | None = None
    command: list[str] = field(default_factory=lambda: list(WORKER_COMMAND))

    @property
    def url(self) -> str:
        return self.gateway.url if self.gateway else self.direct_url

    @property
    def direct_url(self) -> str:
        """The worker's own web server."""
        return f"http://127.0.0.1:{self.web_port}"

    def owned_partitions(self) -> list[int]:
        """The partitions of the last assignment it logged (none before the first)."""
        found = OWNS.findall(self.log())
        return [int(p) for p in found[-1].split(",") if p.strip()] if found else []

    def restart(self) -> None:
        """Start the worker again, on the same port with the same environment (its gateway
        goes on forwarding to it), appending to the same log."""
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=ROOT)
        wait_healthy(self.proc, self.direct_url, "the restarted worker", self.log)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Stops the worker (its exit code is returned), then its gateway."""
        code = stop_process(self.proc, sig, timeout)
        if self.gateway:
            self.gateway.stop()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Signal, wait, kill; then any process it started that outlived it (a gateway's
    processes), so no test leaves one running for the tests after it."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.wait(timeout=5)
        with contextlib.suppress(psutil.Error):
            child.kill()
    return proc.returncode


def wait_healthy(proc: subprocess.Popen[bytes], url: str, what: str,
                 log: Callable[[], str]) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{log()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(healthy, timeout=60, what=f"{what}'s /healthz")


def start_worker(bootstrap: str, dsn: str, log_dir: Path, gateway: bool = True,
                 command: list[str] | None = None, **env: str) -> Worker:
    """``command``: the worker's, or one running it with a fault (``tests/faults``)."""
    command = command or WORKER_COMMAND
    port = free_port()
    log_path = log_dir / f"worker-{port}.log"
    full_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": dsn,
                "WEB_PORT": str(port), "DATA_DIR": str(log_dir),
                "KAFKA_EMBEDDED": "true", **env}  # the tests' broker is the embedded one
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(command, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    worker = Worker(proc, port, log_path, full_env, command=list(command))
    wait_healthy(proc, worker.direct_url, "the worker", worker.log)
    if gateway:
        worker.gateway = start_gateway(bootstrap, [worker.direct_url], log_dir, **env)
    return worker


def start_gateway(bootstrap: str, worker_urls: list[str], log_dir: Path, **env: str) -> Gateway:
    """A gateway of one process (GATEWAY_PROCESSES in ``env`` for more)."""
    port = free_port()
    log_path = log_dir / f"gateway-{port}.log"
    full_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "WEB_PORT": str(port),
                "WORKER_URLS": ",".join(worker_urls), "GATEWAY_PROCESSES": "1", **env}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "processor.ops.cli", "gateway"],
                                env=full_env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    gateway = Gateway(proc, port, log_path)
    wait_healthy(proc, gateway.url, "the gateway", gateway.log)
    return gateway


def http_json(url: str, method: str = "GET", body: Any = None,
              headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded JSON or text) without raising on 4xx/5xx."""
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def ask(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, str | None]:
    """(status, JSON, X-Live-Source) of a GET: which store answered a live or hours read."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), r.headers.get("X-Live-Source")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("X-Live-Source")


def read_changelog(bootstrap: str, topic: str, key_prefix: str,
                   settle: float = 2.0) -> dict[str, Any]:
    """The last value per key (JSON) of a compacted topic, for keys starting with key_prefix."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uid()}",
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        latest: dict[str, Any] = {}
        quiet_until = time.monotonic() + settle
        while time.monotonic() < quiet_until:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            raw = (msg.key() or b"").decode()
            key = json.loads(raw) if raw.startswith('"') else raw  # json or raw key serializer
            if key.startswith(key_prefix):
                latest[key] = json.loads(msg.value()) if msg.value() else None
                quiet_until = time.monotonic() + settle
        return latest
    finally:
        consumer.close()
