"""The gateway's per-process tally, flushed into prometheus_client's metrics."""

from __future__ import annotations

from processor.gateway.metrics import BUCKETS, OWN, Tally


def value(name: str, **labels: str) -> float:
    return OWN.get_sample_value(name, labels) or 0.0


def test_a_flush_adds_the_tally_to_the_metrics_and_starts_again() -> None:
    before = {
        "requests": value("energy_gateway_requests_total", route="ingest", status="202"),
        "le_5ms": value("energy_gateway_request_seconds_bucket", route="ingest", le="0.005"),
        "le_1ms": value("energy_gateway_request_seconds_bucket", route="ingest", le="0.001"),
        "inf": value("energy_gateway_request_seconds_bucket", route="ingest", le="+Inf"),
        "sum": value("energy_gateway_request_seconds_sum", route="ingest"),
        "meters": value("energy_http_readings_total", type="meter", outcome="accepted"),
        "internal": value("energy_internal_errors_total", stage="http"),
    }
    tally = Tally()
    tally.request("ingest", 202, 0.004)
    tally.request("ingest", 202, 0.001)  # on a bucket's bound: counted in it (le)
    tally.request("ingest", 202, BUCKETS[-1] + 5)  # beyond the last bound: +Inf only
    tally.http_readings({"meter": 3}, {"vehicle": 1})
    tally.internal_error(2)
    tally.flush()
    assert value("energy_gateway_requests_total", route="ingest",
                 status="202") == before["requests"] + 3
    assert value("energy_gateway_request_seconds_bucket", route="ingest",
                 le="0.001") == before["le_1ms"] + 1
    assert value("energy_gateway_request_seconds_bucket", route="ingest",
                 le="0.005") == before["le_5ms"] + 2
    assert value("energy_gateway_request_seconds_bucket", route="ingest",
                 le="+Inf") == before["inf"] + 3
    assert abs(value("energy_gateway_request_seconds_sum", route="ingest")
               - before["sum"] - (0.005 + BUCKETS[-1] + 5)) < 1e-9
    assert value("energy_http_readings_total", type="meter",
                 outcome="accepted") == before["meters"] + 3
    assert value("energy_internal_errors_total", stage="http") == before["internal"] + 2
    tally.flush()  # nothing new: nothing added twice
    assert value("energy_gateway_requests_total", route="ingest",
                 status="202") == before["requests"] + 3
