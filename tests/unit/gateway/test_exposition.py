"""/metrics on the gateway: the gateway's and every worker's expositions as one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from processor.gateway.exposition import merge


def exposition(readings: float, lag: dict[str, float], latency: float) -> str:
    registry = CollectorRegistry()
    Counter("energy_readings_accepted_total", "readings", ["type"],
            registry=registry).labels("meter").inc(readings)
    gauge = Gauge("energy_consumer_lag", "lag", ["partition"], registry=registry)
    for partition, value in lag.items():
        gauge.labels(partition).set(value)
    Histogram("energy_db_write_seconds", "writes", registry=registry,
              buckets=(0.1, 1)).observe(latency)
    return generate_latest(registry).decode()


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text.decode()) for s in f.samples
            if not s.name.endswith("_created")}


def test_counters_and_histograms_add_up_and_gauges_keep_the_largest() -> None:
    merged = samples(merge([exposition(3, {"0": 5}, 0.05), exposition(4, {"0": 0, "1": 7}, 0.5)]))
    assert merged[("energy_readings_accepted_total", (("type", "meter"),))] == 7
    assert merged[("energy_consumer_lag", (("partition", "0"),))] == 5
    assert merged[("energy_consumer_lag", (("partition", "1"),))] == 7
    assert merged[("energy_db_write_seconds_bucket", (("le", "0.1"),))] == 1
    assert merged[("energy_db_write_seconds_bucket", (("le", "1.0"),))] == 2
    assert merged[("energy_db_write_seconds_count", ())] == 2
    assert merged[("energy_db_write_seconds_sum", ())] == 0.55


def test_each_family_is_described_once() -> None:
    text = merge([exposition(1, {}, 0.1), exposition(1, {}, 0.1)]).decode()
    assert text.count("# TYPE energy_readings_accepted_total counter") == 1
    assert text.count("# HELP energy_consumer_lag ") == 1
