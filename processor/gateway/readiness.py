"""``GET /readyz`` on the gateway: can the system take readings and answer reads right now?

The gateway checks the broker itself (a metadata request that must list ``telemetry.raw``);
each worker's ``/readyz`` adds PostgreSQL, its partitions, its agents and its writes. The answer
keeps the workers' shape (``checks``: database, broker, partitions, agents, writes), adds
``workers`` (could every worker be asked), and lists each worker's own answer; a system whose
only problem is a writer waiting on a permanent condition of the database is ``degraded``.
``?scope=gateway`` checks the gateway alone (the broker), for a load balancer that sends only
ingest to it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from processor.gateway.forward import Answer, Forwarder
from processor.kafka.publisher import Publisher

CHECK_TIMEOUT = 3.0
WORKER_CHECKS = ("database", "broker", "partitions", "agents", "writes")


def worker_report(url: str, answer: Answer | str) -> dict[str, Any]:
    if isinstance(answer, str):
        return {"url": url, "status": None, "error": answer}
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return {"url": url, "status": answer.status, "checks": body.get("checks", {}),
            "assignedPartitions": body.get("assignedPartitions", 0)}


async def readiness(publisher: Publisher, forwarder: Forwarder,
                    gateway_only: bool) -> tuple[int, dict[str, Any]]:
    if gateway_only:
        broker = await publisher.broker_problem(CHECK_TIMEOUT)
        body: dict[str, Any] = {"status": "not ready" if broker else "ready",
                                "checks": {"broker": broker or "ok"}}
        if broker:
            body["failed"] = ["broker"]
        return (503 if broker else 200), body
    broker, answers = await asyncio.gather(
        publisher.broker_problem(CHECK_TIMEOUT), forwarder.get_each("/readyz", CHECK_TIMEOUT + 2))
    return combine(broker, [worker_report(url, answer) for url, answer in answers])


def combine(broker: str | None, reports: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The system's readiness from the gateway's broker check and each worker's report: a
    check fails with the first problem any of them names (and which worker, if several)."""
    problems: dict[str, str | None] = {name: None for name in WORKER_CHECKS}
    problems["broker"] = broker
    problems["workers"] = None if reports else "no worker is configured (WORKER_URLS)"
    many = len(reports) > 1
    for report in reports:
        if "error" in report:
            problems["workers"] = (problems["workers"]
                                   or f"the worker at {report['url']} {report['error']}")
            continue
        for name in WORKER_CHECKS:
            said = report["checks"].get(name, "no answer")
            if said != "ok" and problems[name] is None:
                problems[name] = f"{said} (worker at {report['url']})" if many else said
    failed = [name for name, problem in problems.items() if problem]
    status = "degraded" if failed == ["writes"] else "not ready" if failed else "ready"
    body = {"status": status,
            "checks": {name: problem or "ok" for name, problem in problems.items()},
            "assignedPartitions": sum(r.get("assignedPartitions", 0) for r in reports),
            "workers": reports}
    if failed:
        body["failed"] = failed
    return (503 if failed else 200), body
