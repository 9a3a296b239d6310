"""The gateway's Prometheus metrics, shared by its processes.

``serve.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a folder of its own before the processes
start, so every process counts into its own files and ``/metrics`` adds them up
(``prometheus_client``'s multiprocess mode). Those counts live in memory-mapped files, and
updating them for each request cost ~33 us of the ~165 us a single POST took (measured: 7.3k
-> 8.2k requests/s with them left out), so a request only adds to plain counters in its
process (``Tally``), which go to the shared files once a second and before each scrape. The
HTTP reading counts keep the names the workers used when they took ingest themselves.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections import Counter as Tallies
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

FLUSH_SECONDS = 1.0
# Its own registry: the names of the HTTP reading counts are also the workers' (and a process
# that imports both, as the tests do, would refuse the second). A gateway started by serve.py
# exposes every process's files instead (``exposition``).
OWN = CollectorRegistry()
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)

REQUESTS = Counter(
    "energy_gateway_requests_total",
    "Requests the gateway answered, by route (ingest, forward: passed on to a worker, own: "
    "its health, readiness and metrics) and status code.", ["route", "status"], registry=OWN)
LATENCY = Histogram(
    "energy_gateway_request_seconds",
    "Time from a request's arrival at the gateway to its answer, by route.", ["route"],
    buckets=BUCKETS, registry=OWN)
HTTP_READINGS = Counter(
    "energy_http_readings_total",
    "Readings posted to POST /v1/telemetry, by the type they claimed and outcome (accepted: "
    "acknowledged by the broker; rejected: refused with a 4xx or not acknowledged).",
    ["type", "outcome"], registry=OWN)
INTERNAL_ERRORS = Counter(
    "energy_internal_errors_total",
    "Failures that were our bug, not the input's, by stage (http: a request or reading was "
    "refused with a 4xx).", ["stage"], registry=OWN)
FORWARD_FAILURES = Counter(
    "energy_gateway_forward_failures_total",
    "Requests no worker answered, by reason (connect: none could be reached; timeout).",
    ["reason"], registry=OWN)


class Tally:
    """This process's counts since the last flush."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.requests: Tallies[tuple[str, int]] = Tallies()
        self.readings: Tallies[tuple[str, str]] = Tallies()
        self.buckets: dict[str, list[int]] = {}  # route -> count per bucket (+Inf last)
        self.seconds: dict[str, float] = {}
        self.internal = 0

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests[route, status] += 1
        counts = self.buckets.get(route)
        if counts is None:
            counts = self.buckets[route] = [0] * (len(BUCKETS) + 1)
        counts[bisect_left(BUCKETS, seconds)] += 1
        self.seconds[route] = self.seconds.get(route, 0.0) + seconds

    def http_readings(self, accepted: Mapping[str, int], rejected: Mapping[str, int]) -> None:
        for kind, n in accepted.items():
            self.readings[kind, "accepted"] += n
        for kind, n in rejected.items():
            self.readings[kind, "rejected"] += n

    def internal_error(self, n: int = 1) -> None:
        self.internal += n

    def flush(self) -> None:
        """Into the shared counts; this tally starts again from zero."""
        for (route, status), n in self.requests.items():
            REQUESTS.labels(route, str(status)).inc(n)
        for (kind, outcome), n in self.readings.items():
            HTTP_READINGS.labels(kind, outcome).inc(n)
        for route, counts in self.buckets.items():
            # prometheus_client has no bulk observe: add to the child's buckets and sum
            # (pinned by tests/unit/gateway/test_metrics.py).
            child = LATENCY.labels(route)
            for bucket, n in zip(child._buckets, counts, strict=True):
                if n:
                    bucket.inc(n)
            child._sum.inc(self.seconds[route])
        if self.internal:
            INTERNAL_ERRORS.labels("http").inc(self.internal)
        self._reset()

    def flush_every(self, loop: asyncio.AbstractEventLoop,
                    seconds: float = FLUSH_SECONDS) -> None:
        self.flush()
        loop.call_later(seconds, self.flush_every, loop, seconds)


TALLY = Tally()  # one per process


def exposition() -> bytes:
    """Every gateway process's metrics, added up (this one's flushed first; the others' are at
    most FLUSH_SECONDS old)."""
    TALLY.flush()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # a gateway not started by serve.py
        return generate_latest(OWN)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)
