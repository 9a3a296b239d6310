"""`energy-ingest up`: embedded services, workers and simulator in one command."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from processor.ops.embedded import free_port
from producers.fleet import read_truth
from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import ROOT, http_json, publish, query, uid, wait_until

pytestmark = pytest.mark.integration


def start_up(tmp: Path, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp / "up.log"
    full = {k: v for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    full.update({"DATA_DIR": str(tmp / "data"), "WEB_PORT": str(free_port()),
                 "WORKER_PORT": str(free_ports(2)), "GATEWAY_PROCESSES": "1",
                 "TELEMETRY_PARTITIONS": "4", "APP_ID": f"up-{uid()}", **env})
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "processor.ops.cli", "up", *args], env=full,
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    return proc, log


def services_file(tmp: Path) -> dict[str, str]:
    path = tmp / "data" / "services.json"
    wait_until(path.exists, timeout=60, what="up to write services.json")
    return dict(json.loads(path.read_text()))


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_up_runs_everything_embedded_and_leaves_no_orphans(tmp_path: Path) -> None:
    proc, log = start_up(tmp_path, "--simulate", "--devices", "5", "--hours", "1")
    try:
        info = services_file(tmp_path)
        wait_until(lambda: query(info["dsn"], "SELECT count(*) FROM vehicle_history "
                                 "WHERE vehicle_id LIKE 'V-%'")[0][0] >= 5 * 60,
                   timeout=120, what="simulated readings in PostgreSQL")
        text = log.read_text()
        truth = read_truth(tmp_path / "data" / "simulated-fleet.csv")  # the simulator's truth
        assert sorted(truth) == [f"V-{i:04d}" for i in range(1, 6)]
        assert "embedded broker (Tansu, memory only) at 127.0.0.1:" in text
        assert "embedded PostgreSQL at" in text and "look at the data with: psql" in text
        children = descendants(proc.pid)
        names = " ".join(" ".join(c.cmdline()) for c in children if c.is_running())
        assert "tansu" in names and "worker" in names and "gateway" in names
        # Everything on WEB_PORT, through the gateway: ingest, reads, the web view.
        web = f"http://127.0.0.1:{full_env(proc)['WEB_PORT']}"
        reading = {"meterId": f"MU{uid()}", "kwhConsumedAc": 1.0, "voltage": 230,
                   "timestamp": "2026-01-01T00:00:00Z"}
        assert http_json(f"{web}/v1/telemetry", "POST", reading) == (202, {"accepted": 1})
        wait_until(lambda: http_json(f"{web}/v1/meters/{reading['meterId']}/live")[0] == 200,
                   what="the posted reading served live through the gateway")
        assert http_json(f"{web}/v1/analytics/fleet")[0] == 200
        postgres = [c for c in psutil.process_iter(["name", "cmdline"])
                    if c.info["name"] == "postgres"
                    and str(tmp_path) in " ".join(c.info["cmdline"] or [])]
        assert postgres, "embedded PostgreSQL should run under DATA_DIR"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
    alive = [c for c in children + postgres if c.is_running() and c.status() != "zombie"]
    assert not alive, f"orphans left behind: {alive}"
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").exists()  # kept across runs


def test_the_first_fleet_request_after_up_simulate_shows_the_simulated_fleet(
        tmp_path: Path) -> None:
    """The worker takes a fleet snapshot as it starts, before the simulator's readings are
    written; the first request after they are must not be answered from it. (Snapshots may be
    an hour stale here, so only that rule can keep the empty one from being served.)"""
    proc, log = start_up(tmp_path, "--simulate", "--devices", "5", "--hours", "1",
                         FLEET_STALE_SECONDS="3600", FLEET_CACHE_SECONDS="3600")
    try:
        info = services_file(tmp_path)
        wait_until(lambda: query(info["dsn"], "SELECT count(DISTINCT vehicle_id) FROM "
                                 "vehicle_history")[0][0] == 5,
                   timeout=120, what="the simulated vehicles' readings in PostgreSQL")
        web = f"http://127.0.0.1:{full_env(proc)['WEB_PORT']}"
        status, body = http_json(f"{web}/v1/analytics/fleet?limit=50")
        assert status == 200, body
        assert body["total"] == 5, log.read_text()[-3000:]
        assert sorted(v["vehicleId"] for v in body["vehicles"]) == [
            f"V-{i:04d}" for i in range(1, 6)]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]


def postgres_under(tmp: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL's processes whose data is under ``tmp``."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "postgres" and str(tmp) in " ".join(p.info["cmdline"] or []):
            found.append(p)
    return found


def test_up_takes_over_the_postgresql_a_killed_up_left_and_stops_it(tmp_path: Path) -> None:
    """kill -9 of ``up`` alone: its children end by themselves, PostgreSQL (a daemon of
    pg_ctl's) stays; the next ``up`` on the same DATA_DIR takes it over and stops it."""
    first, first_log = start_up(tmp_path)
    try:
        services_file(tmp_path)
        wait_until(lambda: "worker owns partitions" in first_log.read_text(), timeout=90,
                   what="the first up's worker to start")
        children = descendants(first.pid)
        left = postgres_under(tmp_path)
        assert left, "embedded PostgreSQL should run under DATA_DIR"
        first.kill()
        first.wait(10)
        wait_until(lambda: not [c for c in children if c.is_running()
                                and c.status() != psutil.STATUS_ZOMBIE],
                   timeout=30, what="the killed up's children to end by themselves")
        assert [p for p in left if p.is_running()], "PostgreSQL outlives a killed up"

        second, log = start_up(tmp_path)
        try:
            info = services_file_of(tmp_path, second.pid)
            assert query(info["dsn"], "SELECT 1") == [(1,)]
            wait_until(lambda: "worker owns partitions" in log.read_text(), timeout=90,
                       what="the second up's worker to start")
            assert "taken over" in log.read_text(), log.read_text()[-3000:]
        finally:
            second.send_signal(signal.SIGTERM)
            code = second.wait(60)
        assert code == 0, log.read_text()[-3000:]
        wait_until(lambda: not postgres_under(tmp_path), timeout=30,
                   what="the embedded PostgreSQL to stop with the up that took it over")
    finally:
        for p in postgres_under(tmp_path):  # never leave one behind, whatever failed
            with contextlib.suppress(psutil.Error):
                p.kill()


def services_file_of(tmp: Path, pid: int) -> dict[str, str]:
    """The services file once the ``up`` of ``pid`` wrote it."""
    path = tmp / "data" / "services.json"

    def written() -> dict[str, str] | None:
        with contextlib.suppress(OSError, ValueError):
            info = dict(json.loads(path.read_text()))
            return info if info["pid"] == pid else None
        return None

    return wait_until(written, timeout=60, what=f"up (pid {pid}) to write services.json")


def test_up_recreates_topics_after_losing_the_embedded_broker(tmp_path: Path,
                                                              services: Services) -> None:
    proc, log = start_up(tmp_path, DATABASE_URL=services.dsn)
    run = uid()
    try:
        bootstrap = services_file(tmp_path)["bootstrap"]
        wait_until(lambda: "worker owns partitions" in log.read_text(), timeout=60,
                   what="the worker to start")
        first = {"meterId": f"MU{run}-1", "kwhConsumedAc": 1.0, "voltage": 230,
                 "timestamp": "2026-01-01T00:00:00Z"}
        publish(bootstrap, [first])
        wait_until(lambda: query(services.dsn, "SELECT 1 FROM meter_history WHERE meter_id = %s",
                                 (first["meterId"],)), what="a reading before the loss")
        broker = [c for c in descendants(proc.pid) if "tansu" in " ".join(c.cmdline())]
        assert len(broker) == 1
        broker[0].kill()
        wait_until(lambda: "broker back at" in log.read_text(), timeout=90,
                   what="up to restart the broker")
        text = log.read_text()
        assert "keeps everything in memory" in text and "recreating the topics" in text
        second = {**first, "meterId": f"MU{run}-2"}
        publish(bootstrap, [second])
        wait_until(lambda: query(services.dsn, "SELECT 1 FROM meter_history WHERE meter_id = %s",
                                 (second["meterId"],)), timeout=90,
                   what="a reading after the broker came back")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]


def one_error_line(log: Path) -> str:
    """The output of a start that failed: exactly one "error:" line and no traceback."""
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text[-3000:]
    return errors[0]


def test_up_with_an_unreachable_database_names_it_and_stops_at_once(
        tmp_path: Path, services: Services) -> None:
    port = free_port()  # nothing listens there
    proc, log = start_up(tmp_path, KAFKA_BOOTSTRAP_SERVERS=services.bootstrap,
                         DATABASE_URL=f"postgresql://energy:s3cret@127.0.0.1:{port}/energy")
    assert proc.wait(30) == 2
    line = one_error_line(log)
    assert f"cannot reach PostgreSQL at user=energy password=*** dbname=energy " \
           f"host=127.0.0.1 port={port}" in line
    assert "Connection refused" in line and "DATABASE_URL" in line and "s3cret" not in line


def test_up_with_a_busy_web_port_names_it_and_stops_at_once(tmp_path: Path,
                                                            services: Services) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        proc, log = start_up(tmp_path, KAFKA_BOOTSTRAP_SERVERS=services.bootstrap,
                             DATABASE_URL=services.dsn, WEB_PORT=str(port))
        assert proc.wait(30) == 2
        assert time.monotonic() - started < 20  # not six restarts over ~50 s
        line = one_error_line(log)
        assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in line
        assert "WEB_PORT" in line and "restarting" not in log.read_text()

        # A worker started on its own (or by `up`, after another process took the port in
        # between) says the same and exits with the start-up code, which `up` does not retry.
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": services.bootstrap,
               "DATABASE_URL": services.dsn, "WEB_PORT": str(port),
               "TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID}
        done = subprocess.run([sys.executable, "-m", "processor.ops.cli", "worker"], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr
        assert "Traceback" not in done.stderr


def test_up_runs_several_workers_on_consecutive_ports(tmp_path: Path,
                                                      services: Services) -> None:
    """WEB_PORT in the environment: Faust reads it too (and preferred it to the worker's own
    --web-port), so the second worker used to bind the first one's port. The gateway on
    WEB_PORT forwards to both."""
    port = free_ports(2)
    web = free_port()
    proc, log = start_up(tmp_path, "--workers", "2", KAFKA_BOOTSTRAP_SERVERS=services.bootstrap,
                         DATABASE_URL=services.dsn, WEB_PORT=str(web), WORKER_PORT=str(port))
    try:
        for p in (port, port + 1):
            wait_until(lambda p=p: healthy(p), timeout=60, what=f"a worker on port {p}")

        def ready() -> dict[str, object] | None:
            status, body = http_json(f"http://127.0.0.1:{web}/readyz")
            return body if status == 200 else None

        body = wait_until(ready, timeout=90, what="the gateway to report both workers ready")
        assert [w["url"] for w in body["workers"]] == [  # type: ignore[index, union-attr]
            f"http://127.0.0.1:{p}" for p in (port, port + 1)]
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    port = free_port()
    while not all(port_free(port + i) for i in range(1, count)):
        port = free_port()
    return port


def full_env(proc: subprocess.Popen[bytes]) -> dict[str, str]:
    return dict(psutil.Process(proc.pid).environ())


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False
