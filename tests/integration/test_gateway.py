"""The gateway through a broker outage: 503s while the broker is gone, never a 202 for a
reading that was not stored, and ingest back by itself once the broker returns."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from processor.kafka.topics import ensure_topics
from processor.ops.embedded import EmbeddedBroker, free_port
from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import (
    ROOT,
    Worker,
    http_json,
    query,
    start_worker,
    stop_process,
    uid,
    wait_healthy,
    wait_until,
)

pytestmark = pytest.mark.integration


def reading(meter: str) -> dict[str, Any]:
    return {"meterId": meter, "kwhConsumedAc": 1.5, "voltage": 230,
            "timestamp": "2026-01-01T00:00:00Z"}


def stored(dsn: str, meters: list[str]) -> set[str]:
    rows = query(dsn, "SELECT meter_id FROM meter_history WHERE meter_id = ANY(%s)", (meters,))
    return {row[0] for row in rows}


def test_a_broker_outage_gets_503_never_a_false_202_and_the_gateway_recovers(
        tmp_path: Path, own_database: str) -> None:
    run = uid()
    broker = EmbeddedBroker.start(tmp_path)
    port = int(broker.bootstrap.rsplit(":", 1)[1])
    ensure_topics(broker.bootstrap, APP_ID, PARTITIONS)
    env = {"TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID,
           "HTTP_PUBLISH_TIMEOUT": "3"}
    worker = start_worker(broker.bootstrap, own_database, tmp_path, **env)
    assert worker.gateway is not None
    url = f"{worker.url}/v1/telemetry"
    answers: dict[str, int] = {}  # meter id -> status of its POST

    def post(meter: str) -> tuple[int, Any]:
        status, body = http_json(url, "POST", reading(meter))
        answers[meter] = status
        return status, body

    try:
        before = [f"GB-{run}-a{i}" for i in range(20)]
        assert [post(m)[0] for m in before] == [202] * 20
        wait_until(lambda: stored(own_database, before) == set(before),
                   what="the readings posted before the outage in PostgreSQL")

        broker.stop()
        during = [f"GB-{run}-b{i}" for i in range(40)]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            outage = list(pool.map(post, during))
        assert {status for status, _ in outage} == {503}, outage
        assert all(f"the Kafka broker at {broker.bootstrap} did not acknowledge" in body["error"]
                   and body["accepted"] == 0 for _, body in outage)
        assert time.monotonic() - started < 60  # each within HTTP_PUBLISH_TIMEOUT, 8 at once
        status, ready = http_json(f"{worker.url}/readyz?scope=gateway")
        assert status == 503 and ready["failed"] == ["broker"], ready

        # The broker returns on the same address, empty (it keeps nothing): as `up` does, the
        # topics are made again and the worker restarted. The gateway is left alone.
        broker = EmbeddedBroker.start(tmp_path, port)
        ensure_topics(broker.bootstrap, APP_ID, PARTITIONS)
        stop_process(worker.proc, 15, 30)
        worker.proc = start_worker(broker.bootstrap, own_database, tmp_path, gateway=False,
                                   **env).proc
        after = [f"GB-{run}-c{i}" for i in range(20)]
        wait_until(lambda: post(after[0])[0] == 202, timeout=90,
                   what="the gateway to take readings again without a restart")
        assert [post(m)[0] for m in after[1:]] == [202] * 19
        assert worker.gateway.proc.poll() is None

        accepted = [m for m, status in answers.items() if status == 202]
        assert set(accepted) == set(before) | set(after)
        wait_until(lambda: stored(own_database, accepted) == set(accepted), timeout=90,
                   what="every reading answered 202 in PostgreSQL")
    finally:
        worker.stop()
        broker.stop()


def test_the_command_line_workers_reach_every_gateway_process(
        services: Services, worker: Worker, tmp_path: Path) -> None:
    """`gateway --workers URLS` (no WORKER_URLS in the environment) forwards there: the
    processes Granian forks read their settings afresh."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "WORKER_URLS"}
    env.update({"KAFKA_BOOTSTRAP_SERVERS": services.bootstrap, "WEB_PORT": str(port)})
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "processor.ops.cli", "gateway",
                                 "--processes", "2", "--workers", worker.direct_url],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url, "the gateway", log.read_text)
        for _ in range(4):  # whichever process takes the connection
            status, doc = http_json(f"{url}/openapi.json")
            assert status == 200 and "/v1/telemetry" in doc["paths"], (status, doc)
    finally:
        stop_process(proc, 15, 30)


def test_the_workers_take_no_ingest_and_the_benchmarks_worker_does(
        services: Services, worker: Worker, own_broker: str, own_database: str,
        tmp_path: Path) -> None:
    """The session's worker (behind its gateway) has no ingest route of its own; the one the
    HTTP benchmark starts for its comparison (benchmarks/worker_ingest.py) answers and stores
    as the gateway does. That one runs on a broker of its own: in the session's consumer group
    it would make the session's worker go through two rebalances for nothing."""
    meter = f"GW-{uid()}"
    body = reading(meter)
    assert http_json(f"{worker.direct_url}/v1/telemetry", "POST", body)[0] == 404
    own = start_worker(own_broker, own_database, tmp_path, gateway=False,
                       command=[sys.executable, "-m", "benchmarks.worker_ingest", "worker"],
                       TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    try:
        assert http_json(f"{own.direct_url}/v1/telemetry", "POST", body) == (
            202, {"accepted": 1})
        status, answer = http_json(f"{own.direct_url}/v1/telemetry", "POST",
                                   [body, {**body, "voltage": -1}])
        assert status == 422 and answer["accepted"] == 1
        wait_until(lambda: stored(own_database, [meter]) == {meter},
                   what="the reading posted to the worker's own route")
    finally:
        own.stop()
