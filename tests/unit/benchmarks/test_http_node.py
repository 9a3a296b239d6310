"""The Node-client phase's pure parts (benchmarks/http_node.py), the Node client's output
(benchmarks/http_load_node.mjs) and the reference server's package (benchmarks/reference/)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from psycopg.conninfo import conninfo_to_dict

from benchmarks import http_node
from benchmarks.http_node import (
    CpuSampler,
    Watched,
    client_summary,
    cpu_deltas,
    minutes_needed,
    node_database_url,
    parse_client_result,
    per_post,
    stored_check,
    tagged,
    write_bodies,
)

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "benchmarks" / "reference"
EXACT = re.compile(r"^\d+\.\d+\.\d+$")
NODE = shutil.which("node")


# --- the reference's package -------------------------------------------------------------------

def test_the_reference_pins_exact_versions_of_fastify_and_pg() -> None:
    package = json.loads((REFERENCE / "package.json").read_text())
    deps = package["dependencies"]
    assert set(deps) == {"fastify", "pg"}
    assert all(EXACT.match(version) for version in deps.values()), deps
    lock = json.loads((REFERENCE / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == deps
    for name, version in deps.items():  # what npm ci installs is what package.json names
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_the_reference_server_and_its_modules_exist_and_node_modules_is_ignored() -> None:
    for name in ("server.mjs", "validate.mjs", "rows.mjs"):
        assert (REFERENCE / name).is_file(), name
    assert http_node.REFERENCE_SERVER == REFERENCE / "server.mjs"
    server = (REFERENCE / "server.mjs").read_text()
    assert "FLUSH_READINGS = 500" in server and "FLUSH_MS = 2000" in server
    assert "benchmarks/reference/node_modules/" in (ROOT / ".gitignore").read_text().split()


@pytest.mark.skipif(NODE is None, reason="node is not on the PATH")
def test_the_reference_checks_pass_under_node_test() -> None:
    done = subprocess.run([str(NODE), "--test", str(REFERENCE / "test" / "validate.test.mjs")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="npm is not on the PATH"):
        http_node.ensure_reference_packages(tmp_path)


def test_installed_packages_need_no_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("fastify", "pg"):
        (tmp_path / "node_modules" / name).mkdir(parents=True)
        (tmp_path / "node_modules" / name / "package.json").write_text("{}")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    http_node.ensure_reference_packages(tmp_path)  # nothing to do, no error


def test_without_node_the_phase_is_skipped_with_its_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert http_node.missing_node() == "node is not on the PATH"

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing runs without node")

    out = http_node.measure(gateway_url="http://x", gateway_pid=1, broker_pid=None,
                            worker_pids=[], postmaster=None, dsn="", directory=Path("/nonexistent"),
                            drain=never, reference_database=never)
    assert out == {"skipped": "node is not on the PATH"}


# --- the bodies --------------------------------------------------------------------------------

def test_bodies_cover_the_highest_rate_without_repeating() -> None:
    assert minutes_needed(10_000, 25_000, 13) == 33  # 330,000 readings >= 325,000 requests
    assert minutes_needed(10_000, 1, 1) == 1


def test_tagged_readings_name_devices_no_other_phase_sent() -> None:
    vehicle = {"type": "vehicle", "vehicleId": "V-0001", "meterId": "M-0001", "soc": 1.0}
    assert tagged(vehicle, "n1a2") == {**vehicle, "vehicleId": "n1a2-V-0001",
                                       "meterId": "n1a2-M-0001"}
    assert tagged({"meterId": "M-7"}, "t") == {"meterId": "t-M-7"}
    assert tagged({"vehicleId": "V-1", "meterId": None}, "t")["meterId"] is None
    assert vehicle["vehicleId"] == "V-0001"  # the input is left alone


def test_every_body_is_one_reading_of_a_distinct_device_and_minute(tmp_path: Path) -> None:
    path = tmp_path / "bodies.jsonl"
    end = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    count = write_bodies(path, devices=20, minutes=3, end=end, tag="nab")
    readings = [json.loads(line) for line in path.read_text().splitlines()]
    assert count == len(readings) == 60
    keys = {(r.get("vehicleId") or r["meterId"], r["timestamp"]) for r in readings}
    assert len(keys) == 60
    assert {r["type"] for r in readings} == {"meter", "vehicle"}
    assert len({k[0] for k in keys}) == 20
    assert all(k[0].startswith("nab-") for k in keys)
    assert max(r["timestamp"] for r in readings) < "2026-12-07T03:00"


# --- the client's output -----------------------------------------------------------------------

RESULT = {"requests": 4, "statuses": {"202": 3, "503": 1}, "errors": 1, "seconds": 2.0,
          "latencies_ms": [1.0, 2.0, 3.0, 4.0], "warmup_requests": 5,
          "warmup_statuses": {"202": 5}, "warmup_errors": 0, "sent": 10, "exhausted": False}


def test_the_clients_result_counts_the_warm_ups_202s_as_accepted() -> None:
    result = parse_client_result(json.dumps(RESULT))
    assert result.statuses == {202: 3, 503: 1}
    assert result.accepted == 8
    summary = client_summary(result)
    assert summary["requests_per_s"] == 2.0
    assert summary["accepted_readings"] == 8
    assert summary["warmup"] == {"requests": 5, "statuses": {202: 5}, "errors": 0}
    assert summary["p50_ms"] == 2.5 and summary["samples"] == 4
    assert summary["bodies_ran_out"] is False


def test_the_older_clients_result_parses_without_a_warm_up() -> None:
    old = {k: RESULT[k] for k in ("requests", "statuses", "errors", "seconds", "latencies_ms")}
    result = parse_client_result(json.dumps(old))
    assert (result.warmup_requests, result.warmup_statuses, result.sent) == (0, {}, None)
    assert result.accepted == 3
    with pytest.raises(ValueError):
        parse_client_result('{"phase": "measure"}')


class Accepting(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Accepting.bodies.append(body)
        answer = b'{"accepted":1}'
        self.send_response(202)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Accepting.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Accepting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/telemetry"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run_client(url: str, bodies: Path, warmup: float, seconds: float,
               *mode: str) -> list[dict[str, Any]]:
    done = subprocess.run([str(NODE), str(http_node.NODE_CLIENT), url, str(bodies), "4",
                           str(warmup), str(seconds), *mode],
                          capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.skipif(NODE is None, reason="node is not on the PATH")
def test_once_the_client_sends_each_body_once_and_says_they_ran_out(
        server: str, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text("".join(f'{{"n":{i}}}\n' for i in range(30)))
    lines = run_client(server, bodies, 0.5, 0.5, "once")
    result = parse_client_result(json.dumps(lines[-1]))
    assert result.exhausted and result.sent == 30
    assert result.requests + result.warmup_requests == 30
    assert result.accepted == 30
    assert sorted(Accepting.bodies) == sorted(f'{{"n":{i}}}'.encode() for i in range(30))


@pytest.mark.skipif(NODE is None, reason="node is not on the PATH")
def test_the_client_reports_warm_up_and_measurement_apart(server: str, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"n":1}\n{"n":2}\n')
    lines = run_client(server, bodies, 0.3, 0.3)  # bodies in turns, as before
    assert lines[0] == {"phase": "measure"}
    result = parse_client_result(json.dumps(lines[-1]))
    assert result.requests > 0 and result.warmup_requests > 0
    assert result.statuses == {202: result.requests}
    assert result.warmup_statuses == {202: result.warmup_requests}
    assert result.exhausted and result.sent == result.requests + result.warmup_requests > 2
    assert set(Accepting.bodies) == {b'{"n":1}', b'{"n":2}'}  # without "once", in turns
    assert {"latencies_ms", "seconds", "errors"} <= set(lines[-1])


# --- CPU by process ----------------------------------------------------------------------------

def test_cpu_deltas_count_new_processes_from_zero_and_gone_ones_not_at_all() -> None:
    before = {1: 10.0, 2: 5.0, 3: 1.0}
    after = {1: 12.5, 2: 5.0, 4: 0.75}  # 3 ended, 4 started
    assert cpu_deltas(before, after) == {1: 2.5, 2: 0.0, 4: 0.75}
    assert cpu_deltas({1: 3.0}, {1: 2.0}) == {1: 0.0}  # a reused pid never counts negative


def row(group: str, cpu_s: float, ours: bool = True, background: bool = False,
        pid: int = 1) -> dict[str, Any]:
    return {"group": group, "pid": pid, "cpu_s": cpu_s, "ours": ours, "background": background}


def test_cpu_per_post_by_process_group_and_all_of_ours() -> None:
    rows = [row("gateway", 0.3, pid=1), row("gateway", 0.2, pid=2), row("broker", 0.25),
            row("worker", 0.2), row("postgres", 0.05), row("client", 0.4, ours=False),
            row("worker", 0.1, ours=False, background=True)]
    table = per_post(rows, posts=5_000, wall=2.0)
    assert [r["us_per_post"] for r in table["processes"][:2]] == [60.0, 40.0]
    assert table["processes"][0]["cores"] == 0.15
    assert table["us_per_post_by_group"] == {"gateway": 100.0, "broker": 50.0, "worker": 40.0,
                                             "postgres": 10.0, "client": 80.0,
                                             "background worker": 20.0}
    assert table["ours_us_per_post"] == 200.0  # the client and the background left out
    assert table["client_us_per_post"] == 80.0
    assert per_post(rows, posts=0, wall=0.0)["ours_us_per_post"] is None
    busy = per_post(rows, posts=5_000, wall=2.0, machine_s=2.0)
    assert busy["machine_cores_busy"] == 1.0
    assert busy["other_cores_busy"] == 0.25  # 2.0 s busy, 1.5 s of it in the table
    assert "machine_cores_busy" not in table


def test_the_sampler_reports_each_process_of_a_tree_or_the_tree_summed() -> None:
    sampler = CpuSampler([Watched("harness", os.getpid()),
                          Watched("harness tree", os.getpid(), split=False, ours=False),
                          Watched("gone", None)])
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler.start()
        sum(i * i for i in range(200_000))
        rows, wall = sampler.stop()
    finally:
        child.kill()
        child.wait()
    mine = {r["pid"]: r["role"] for r in rows if r["group"] == "harness"}
    assert mine[os.getpid()] == "main" and mine[child.pid] == "child"
    assert set(mine.values()) == {"main", "child"}  # the suite's other children are children too
    tree = next(r for r in rows if r["group"] == "harness tree")
    assert tree["processes"] >= 1 and tree["cpu_s"] >= 0 and not tree["ours"]
    assert not [r for r in rows if r["group"] == "gone"]
    assert wall > 0 and sampler.machine_s > 0


@pytest.mark.skipif(NODE is None, reason="node is not on the PATH")
def test_the_cpu_of_a_client_that_has_just_exited_is_still_counted() -> None:
    client = subprocess.Popen([str(NODE), "-e", "const t = Date.now(); while (Date.now() - t "
                               "< 300) {} console.log('done')"], stdout=subprocess.PIPE)
    sampler = CpuSampler([Watched("client", client.pid, split=False, ours=False)])
    sampler.start()
    assert client.stdout is not None and client.stdout.readline() == b"done\n"
    while psutil.Process(client.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)  # exited, not yet waited for: as drive() samples it
    rows, _ = sampler.stop()
    client.wait()
    assert rows[0]["name"] == "node" and rows[0]["cpu_s"] >= 0.1


# --- the database ------------------------------------------------------------------------------

def test_the_database_url_for_pg_keeps_a_socket_directory_in_host() -> None:
    url = node_database_url("host='/tmp/pg sock' port=5433 user=postgres dbname=bench_a_1")
    assert url == "postgresql://postgres@/bench_a_1?host=/tmp/pg%20sock&port=5433"
    assert node_database_url("postgresql://u:p%40ss@db.local:6543/x") == (
        "postgresql://u:p%40ss@db.local:6543/x")
    # what libpq makes of it is the same place
    assert conninfo_to_dict("postgresql://u:p%40ss@db.local:6543/x")["password"] == "p@ss"


def test_stored_check_wants_exactly_the_accepted_readings() -> None:
    assert stored_check(16, 27_525, 27_509) == {"history_before": 16, "history_after": 27_525,
                                                 "stored": 27_509, "accepted": 27_509,
                                                 "exact": True}
    assert not stored_check(0, 99, 100)["exact"]
    assert not stored_check(0, 101, 100)["exact"]
