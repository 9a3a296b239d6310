"""The gateway's /readyz: its broker check and each worker's report, combined."""

from __future__ import annotations

import orjson

from processor.gateway.forward import Answer
from processor.gateway.readiness import combine, worker_report

OK = {"database": "ok", "broker": "ok", "partitions": "ok", "agents": "ok", "writes": "ok"}


def report(url: str, status: int = 200, **checks: str) -> dict[str, object]:
    body = {"status": "ready", "checks": {**OK, **checks}, "assignedPartitions": 12}
    return worker_report(url, Answer(status, [], orjson.dumps(body)))


def test_all_ready_adds_up_the_partitions() -> None:
    status, body = combine(None, [report("http://w1"), report("http://w2")])
    assert status == 200 and body["status"] == "ready" and "failed" not in body
    assert body["checks"] == {**OK, "workers": "ok"}
    assert body["assignedPartitions"] == 24


def test_a_worker_problem_is_named_with_its_worker_when_there_are_several() -> None:
    status, body = combine(None, [report("http://w1"),
                                  report("http://w2", 503, agents="writer stalled 70s")])
    assert status == 503 and body["failed"] == ["agents"]
    assert body["checks"]["agents"] == "writer stalled 70s (worker at http://w2)"


def test_one_worker_keeps_its_own_words() -> None:
    status, body = combine(None, [report("http://w1", 503, database="PostgreSQL did not answer")])
    assert status == 503 and body["checks"]["database"] == "PostgreSQL did not answer"


def test_an_unreachable_worker_and_the_broker_fail_their_own_checks() -> None:
    down = worker_report("http://w9", "did not answer: Cannot connect")
    status, body = combine("the Kafka broker at b:9092 did not answer: timed out", [down])
    assert status == 503 and body["failed"] == ["broker", "workers"]
    assert body["checks"]["workers"] == "the worker at http://w9 did not answer: Cannot connect"


def test_no_worker_configured_is_not_ready() -> None:
    status, body = combine(None, [])
    assert status == 503 and body["failed"] == ["workers"]


def test_a_worker_waiting_on_a_full_disk_makes_the_system_degraded() -> None:
    status, body = combine(None, [report("http://w1", 503,
                                         writes="degraded: meter_writer waits: the database's "
                                                "disk is full")])
    assert status == 503 and body["status"] == "degraded" and body["failed"] == ["writes"]
    assert "disk is full" in body["checks"]["writes"]
