"""``GET /readyz``: can this worker do its job right now?

Ready means PostgreSQL answers ``SELECT 1``, the broker answers a metadata request (and knows
``telemetry.raw``), the Faust consumer holds an assignment, no agent is stalled
(``processor/stream/watchdog.py``), and no writer waits on a permanent condition of the
database (a full disk, a read-only database, a missing table or partition: status
``degraded``, with the cause; ``db/errors.py``). Anything else is a 503 that names the check
that failed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from faust.web import Request, Response, View

from processor.errors import first_line
from processor.stream.pipeline import Pipeline

if TYPE_CHECKING:
    from processor.web.resources import Resources

PING = "SELECT 1"
CHECK_TIMEOUT = 3.0


async def check_database(res: Resources) -> str | None:
    """None when PostgreSQL answered, else why not."""
    try:
        pool = await res.pool()
        async with asyncio.timeout(CHECK_TIMEOUT), pool.connection() as conn:
            await conn.execute(PING)
    except Exception as exc:  # any failure means "not ready"; say which
        return f"PostgreSQL did not answer: {first_line(exc)}"
    return None


def check_assignment(p: Pipeline) -> tuple[str | None, int]:
    try:
        assigned = p.app.consumer.assignment()
    except Exception as exc:  # the consumer has not started yet
        return f"the Kafka consumer is not running: {first_line(exc)}", 0
    if not assigned:
        return "no partitions assigned to this worker (yet)", 0
    return None, len(assigned)


async def readiness(p: Pipeline, res: Resources) -> tuple[int, dict[str, Any]]:
    database, broker = await asyncio.gather(check_database(res),
                                            res.publisher.broker_problem(CHECK_TIMEOUT))
    assignment, partitions = check_assignment(p)
    agents = "; ".join(s.describe() for s in p.watchdog.stalls) or None
    writes = "; ".join(f"{agent} waits: {cause}"
                       for agent, cause in sorted(p.watchdog.conditions.items())) or None
    checks = {"database": database or "ok", "broker": broker or "ok",
              "partitions": assignment or "ok", "agents": agents or "ok",
              "writes": f"degraded: {writes}" if writes else "ok"}
    failed = [name for name, problem in (("database", database), ("broker", broker),
                                         ("partitions", assignment), ("agents", agents),
                                         ("writes", writes))
              if problem]
    status = "degraded" if failed == ["writes"] else "not ready" if failed else "ready"
    body: dict[str, Any] = {"status": status, "checks": checks,
                            "assignedPartitions": partitions}
    if failed:
        body["failed"] = failed
    return (503 if failed else 200), body


def register(p: Pipeline, res: Resources) -> None:
    @p.app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            status, body = await readiness(p, res)
            return self.json(body, status=status)
