"""Live reads: ``GET /v1/vehicles/{id}/live`` from the Faust tables against PostgreSQL, and the
freshness of its answer.

Two workers, so a request meets a worker that owns the device's partition (it answers from
its table) or one that does not (it forwards to the owner). In one run:
1. freshness: vehicle readings published at a steady rate; sampled ones are timed from publish
   until the live endpoint (of the first worker, so half the time through a forward) answers
   their timestamp;
2. reads: every vehicle asked, one request at a time on a kept-alive connection, from the
   owner's table, through the other worker, and from PostgreSQL (``X-Live-Source:
   postgresql``), in turns so the three meet the same machine state; timed at the client and
   in the view (its ``Server-Timing`` header: without the HTTP stack both pay).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from benchmarks import freshness, pipeline
from benchmarks.env import Stack, log
from benchmarks.fleet_input import device_id, generate
from benchmarks.stats import latency_summary, ratio
from processor.domain.partitioning import partition_for

SOURCE = "X-Live-Source"


class Client:
    """One kept-alive connection to a worker's web server."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def live(self, vehicle: str, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, Any], str | None, float, float]:
        """(status, JSON, X-Live-Source, seconds at the client, seconds in the view)."""
        started = time.perf_counter()
        self.conn.request("GET", f"/v1/vehicles/{vehicle}/live", headers=headers or {})
        answer = self.conn.getresponse()
        body = answer.read()
        took = time.perf_counter() - started
        timing = answer.getheader("Server-Timing") or "live;dur=nan"
        in_view = float(timing.rsplit("dur=", 1)[-1]) / 1000
        return answer.status, json.loads(body), answer.getheader(SOURCE), took, in_view

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def from_endpoint(port: int) -> Iterator[freshness.Look]:
    client = Client(port)

    def look(vehicles: list[str]) -> list[tuple[str, datetime]]:
        seen = []
        for vehicle in vehicles:
            status, body, *_ = client.live(vehicle)
            if status == 200:
                seen.append((vehicle, datetime.fromisoformat(body["timestamp"])))
        return seen

    try:
        yield look
    finally:
        client.close()


def measure(stack: Stack, vehicles: int, rate_per_s: int, seconds: float, partitions: int,
            reads: int = 2_000) -> dict[str, Any]:
    with pipeline.running(stack, "live", partitions, workers=2) as r:
        # one sampled reading in 40 (50 a second): each poll asks every pending vehicle in
        # turn, one request at a time, so more samples would time the harness
        fresh = freshness.measure_on(r, vehicles, rate_per_s, seconds, sample_every=40,
                                     looking=from_endpoint(r.workers[0].web_port))
        owned = [w.owned_partitions() or set() for w in r.workers]
        ids = sorted({device_id(x) for x in generate(vehicles, 1).readings
                      if "vehicleId" in x})
        random.Random(21).shuffle(ids)
        clients = [Client(w.web_port) for w in r.workers]
        took: dict[str, list[float]] = {"table": [], "forwarded": [], "postgresql": []}
        in_view: dict[str, list[float]] = {name: [] for name in took}
        wrong: list[str] = []
        try:
            for vehicle in ids[:reads]:
                partition = partition_for(vehicle, partitions)
                mine = 0 if partition in owned[0] else 1
                ways: tuple[tuple[str, Client, dict[str, str]], ...] = (
                        ("table", clients[mine], {}),
                        ("forwarded", clients[1 - mine], {}),
                        ("postgresql", clients[mine], {SOURCE: "postgresql"}))
                answers = []
                for name, client, headers in ways:
                    status, body, source, seconds_taken, view = client.live(vehicle, headers)
                    took[name].append(seconds_taken)
                    in_view[name].append(view)
                    answers.append((status, body))
                    if source != ("postgresql" if name == "postgresql" else "table"):
                        wrong.append(f"{vehicle} {name}: answered by {source}")
                if len({json.dumps(a, sort_keys=True) for a in answers}) != 1:
                    wrong.append(f"{vehicle}: the answers differ")
        finally:
            for client in clients:
                client.close()
    result: dict[str, Any] = {"freshness": fresh, "reads_per_way": len(took["table"]),
                              "mismatches": len(wrong), "first_mismatches": wrong[:5]}
    for name, values in took.items():
        result[name] = {**latency_summary(values),
                        "in_view": latency_summary(in_view[name])}
    result["postgres_to_table_p99"] = ratio(result["postgresql"]["p99_ms"],
                                            result["table"]["p99_ms"])
    result["postgres_to_table_p50"] = ratio(result["postgresql"]["p50_ms"],
                                            result["table"]["p50_ms"])
    result["in_view_postgres_to_table_p99"] = ratio(
        result["postgresql"]["in_view"]["p99_ms"], result["table"]["in_view"]["p99_ms"])
    log(f"live reads: table p50 {result['table']['p50_ms']:.2f} ms p99 "
        f"{result['table']['p99_ms']:.2f} ms; forwarded p50 {result['forwarded']['p50_ms']:.2f}"
        f" p99 {result['forwarded']['p99_ms']:.2f}; PostgreSQL p50 "
        f"{result['postgresql']['p50_ms']:.2f} p99 {result['postgresql']['p99_ms']:.2f}; "
        f"in the view: table p99 {result['table']['in_view']['p99_ms']:.3f} ms, PostgreSQL "
        f"p99 {result['postgresql']['in_view']['p99_ms']:.3f} ms; {len(wrong)} mismatches")
    return result
