"""The gateway's Prometheus metrics, shared by its processes.

``serve.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a folder of its own before the processes
start, so every process counts into its own file and ``/metrics`` adds them up
(``prometheus_client``'s multiprocess mode). The HTTP reading counts keep the names the workers
used when they took ingest themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter(
    "energy_gateway_requests_total",
    "Requests the gateway answered, by route (ingest, forward: passed on to a worker, own: "
    "its health, readiness and metrics) and status code.", ["route", "status"])
LATENCY = Histogram(
    "energy_gateway_request_seconds",
    "Time from a request's arrival at the gateway to its answer, by route.", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
HTTP_READINGS = Counter(
    "energy_http_readings_total",
    "Readings posted to POST /v1/telemetry, by the type they claimed and outcome (accepted: "
    "acknowledged by the broker; rejected: refused with a 4xx or not acknowledged).",
    ["type", "outcome"])
INTERNAL_ERRORS = Counter(
    "energy_internal_errors_total",
    "Failures that were our bug, not the input's, by stage (http: a request or reading was "
    "refused with a 4xx).", ["stage"])
FORWARD_FAILURES = Counter(
    "energy_gateway_forward_failures_total",
    "Requests no worker answered, by reason (connect: none could be reached; timeout).",
    ["reason"])


def request(route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


def http_readings(accepted: Mapping[str, int], rejected: Mapping[str, int]) -> None:
    for kind, n in accepted.items():
        HTTP_READINGS.labels(kind, "accepted").inc(n)
    for kind, n in rejected.items():
        HTTP_READINGS.labels(kind, "rejected").inc(n)


def internal_error(n: int = 1) -> None:
    INTERNAL_ERRORS.labels("http").inc(n)


def exposition() -> bytes:
    """Every gateway process's metrics, added up."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)
