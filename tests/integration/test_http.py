"""The HTTP API on a real worker, broker and PostgreSQL: ingestion, live state, health, metrics."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PARTITIONS, Services
from tests.helpers import Worker, http_json, publish, query, uid, wait_until

pytestmark = pytest.mark.integration


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def meter(mid: str, ts: datetime, kwh: float = 1.25, voltage: float = 231.0) -> dict[str, Any]:
    return {"type": "meter", "meterId": mid, "kwhConsumedAc": kwh, "voltage": voltage,
            "timestamp": iso(ts)}


def vehicle(vid: str, ts: datetime, kwh: float = 1.0, soc: float = 55.0, temp: float = 31.5,
            meter_id: str | None = None) -> dict[str, Any]:
    reading: dict[str, Any] = {"vehicleId": vid, "soc": soc, "kwhDeliveredDc": kwh,
                               "batteryTemp": temp, "timestamp": iso(ts)}
    if meter_id:
        reading["meterId"] = meter_id
    return reading


def post(worker: Worker, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    return http_json(f"{worker.url}/v1/telemetry", "POST", body,
                     headers={"Content-Type": content_type})


def live(worker: Worker, kind: str, device: str) -> tuple[int, Any]:
    return http_json(f"{worker.url}/v1/{kind}s/{device}/live")


def history_count(dsn: str, kind: str, prefix: str) -> int:
    table, column = (("meter_history", "meter_id") if kind == "meter"
                     else ("vehicle_history", "vehicle_id"))
    return query(dsn, f"SELECT count(*) FROM {table} WHERE {column} LIKE %s",
                 (prefix + "%",))[0][0]


def scrape(worker: Worker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_single_readings_are_acked_then_served_live(services: Services, worker: Worker) -> None:
    run = uid()
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    mid, vid = f"HM-{run}", f"HV-{run}"
    assert post(worker, meter(mid, ts, 10.5, 220)) == (202, {"accepted": 1})
    assert post(worker, vehicle(vid, ts, 8.5, 75, 32, meter_id=mid)) == (202, {"accepted": 1})

    status, body = wait_until(lambda: (r := live(worker, "meter", mid))[0] == 200 and r,
                              what="the meter's live state")
    assert body["type"] == "meter" and body["meterId"] == mid
    assert (body["kwhConsumedAc"], body["voltage"], body["timestamp"]) == (10.5, 220.0, iso(ts))
    assert datetime.fromisoformat(body["updatedAt"]) <= datetime.now(UTC)
    status, body = wait_until(lambda: (r := live(worker, "vehicle", vid))[0] == 200 and r,
                              what="the vehicle's live state")
    assert {k: v for k, v in body.items() if k != "updatedAt"} == {
        "type": "vehicle", "vehicleId": vid, "soc": 75.0, "kwhDeliveredDc": 8.5,
        "batteryTemp": 32.0, "meterId": mid, "timestamp": iso(ts)}

    # An older reading lands in the history but does not move the live state back.
    assert post(worker, meter(mid, ts - timedelta(hours=1), 3.0))[0] == 202
    wait_until(lambda: history_count(services.dsn, "meter", mid) == 2, what="older reading")
    assert live(worker, "meter", mid)[1]["timestamp"] == iso(ts)


def test_unknown_devices_are_404(worker: Worker) -> None:
    status, body = live(worker, "vehicle", f"nobody-{uid()}")
    assert status == 404 and body["error"].startswith("unknown vehicle 'nobody-")
    assert live(worker, "meter", "bad%20id")[0] == 404


def test_a_batch_with_bad_readings_publishes_the_good_ones_and_names_the_bad(
        services: Services, worker: Worker) -> None:
    run = uid()
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    good = [meter(f"HB-{run}-{i}", ts + timedelta(minutes=i)) for i in range(5)]
    bad = {1: meter(f"HB-{run}-x", ts, voltage=0),
           4: {**vehicle(f"HB-{run}-v", ts), "soc": "full"},
           6: meter(f"HB-{run}-f", datetime.now(UTC) + timedelta(hours=2))}
    batch: list[Any] = list(good)
    for index, reading in sorted(bad.items()):
        batch.insert(index, reading)

    status, body = post(worker, batch)
    assert status == 422
    assert body["accepted"] == 5
    assert body["error"] == "3 of 8 readings rejected; the other 5 were accepted"
    assert [(r["index"], [e["field"] for e in r["errors"]]) for r in body["rejected"]] == \
        [(1, ["voltage"]), (4, ["soc"]), (6, ["timestamp"])]

    wait_until(lambda: history_count(services.dsn, "meter", f"HB-{run}-") >= 5,
               what="the accepted readings in the history")
    rows = query(services.dsn, "SELECT meter_id FROM meter_history WHERE meter_id LIKE %s "
                 "ORDER BY meter_id", (f"HB-{run}-%",))
    assert [r[0] for r in rows] == [f"HB-{run}-{i}" for i in range(5)]  # none of the bad ones


def test_a_large_array_is_published_in_chunks_and_fully_stored(
        services: Services, worker: Worker) -> None:
    run = uid()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    readings = [vehicle(f"HL-{run}-{i % 40}", base + timedelta(minutes=i // 40), kwh=0.5)
                for i in range(1800)]
    assert post(worker, readings) == (202, {"accepted": 1800})
    wait_until(lambda: history_count(services.dsn, "vehicle", f"HL-{run}-") == 1800,
               timeout=60, what="1800 readings in the history")
    total = query(services.dsn, "SELECT sum(kwh_delivered_dc) FROM vehicle_history "
                  "WHERE vehicle_id LIKE %s", (f"HL-{run}-%",))[0][0]
    assert total == pytest.approx(900.0)


def test_requests_outside_the_contract_get_json_errors(worker: Worker) -> None:
    reading = meter(f"HE-{uid()}", datetime.now(UTC))
    assert post(worker, reading, content_type="text/plain") == (415, {
        "error": "Content-Type must be application/json; got 'text/plain'", "accepted": 0})
    status, body = post(worker, b'{"meterId": ')
    assert status == 400 and body["accepted"] == 0 and body["error"].startswith("malformed JSON")
    status, body = post(worker, b" " * 5_000_001)
    assert status == 413 and body == {
        "error": "request body too large: 5000001 bytes, at most 5000000 (HTTP_MAX_BYTES); "
                 "split it into several requests", "accepted": 0}
    status, body = post(worker, [reading] * 10_001)
    assert status == 413 and body["error"].startswith("10001 readings in one request")
    assert http_json(f"{worker.url}/v1/nothing-here") == (
        404, {"error": "no such endpoint: GET /v1/nothing-here"})
    assert http_json(f"{worker.url}/v1/telemetry")[0] == 405


def test_health_and_readiness(worker: Worker) -> None:
    assert http_json(f"{worker.url}/healthz") == (200, {"status": "ok"})
    status, body = http_json(f"{worker.url}/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    # The gateway's own check (the broker) and its workers' (database, partitions, agents).
    assert body["checks"] == {"database": "ok", "broker": "ok", "partitions": "ok",
                              "agents": "ok", "writes": "ok", "workers": "ok"}
    # the worker alone owns every partition of its three input topics, and their changelogs
    assert body["assignedPartitions"] >= 3 * PARTITIONS
    assert [w["url"] for w in body["workers"]] == [worker.direct_url]
    assert http_json(f"{worker.url}/readyz?scope=gateway") == (
        200, {"status": "ready", "checks": {"broker": "ok"}})
    status, own = http_json(f"{worker.direct_url}/readyz")  # the worker's own, as before
    assert status == 200 and own["checks"] == {"database": "ok", "broker": "ok",
                                               "partitions": "ok", "agents": "ok",
                                               "writes": "ok"}


def test_metrics_count_readings_batches_dead_letters_and_lag(
        services: Services, worker: Worker) -> None:
    before = scrape(worker)
    run = uid()
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    assert post(worker, [meter(f"HX-{run}-{i}", ts) for i in range(3)]) == (202, {"accepted": 3})
    assert post(worker, [meter(f"HX-{run}-bad", ts, voltage=-1)])[0] == 422
    # Invalid input reaching Kafka directly is the router's to reject and dead-letter.
    publish(services.bootstrap, [{**vehicle(f"HX-{run}-v", ts), "soc": 300},
                                 f"not json {run}".encode()])
    wait_until(lambda: history_count(services.dsn, "meter", f"HX-{run}-") == 3,
               what="the readings in the history")

    def moved() -> dict[Any, float] | None:
        now = scrape(worker)
        done = (sample(now, "energy_dead_letters_total")
                >= sample(before, "energy_dead_letters_total") + 2)
        return now if done else None

    after = wait_until(moved, what="the dead letters to be counted")

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("energy_readings_accepted_total", type="meter") >= 3
    assert delta("energy_readings_rejected_total", type="vehicle") >= 1
    assert delta("energy_readings_rejected_total", type="unknown") >= 1
    assert delta("energy_http_readings_total", type="meter", outcome="accepted") == 3
    assert delta("energy_http_readings_total", type="meter", outcome="rejected") == 1
    assert delta("energy_batches_written_total", type="meter") >= 1
    assert delta("energy_history_rows_total", type="meter", outcome="inserted") >= 3
    assert delta("energy_db_write_seconds_count", type="meter") >= 1
    assert sample(after, "energy_db_write_seconds_sum", type="meter") > 0
    lags = {labels: value for (name, labels), value in after.items()
            if name == "energy_consumer_lag"}
    topics = {dict(labels)["topic"] for labels in lags}
    assert topics == {"telemetry.raw", "telemetry.meter", "telemetry.vehicle"}
    assert len(lags) == 3 * PARTITIONS
    assert all(value >= 0 for value in lags.values())


def test_openapi_document_lists_every_endpoint(worker: Worker) -> None:
    status, doc = http_json(f"{worker.url}/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for path, method in [("/v1/telemetry", "post"), ("/v1/vehicles/{id}/live", "get"),
                         ("/v1/meters/{id}/live", "get"), ("/healthz", "get"),
                         ("/readyz", "get"), ("/metrics", "get"), ("/openapi.json", "get")]:
        assert method in doc["paths"][path], path
    body = doc["paths"]["/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"]
    assert json.dumps(body)  # the reading schemas are the validator's own models
    meter_schema = doc["components"]["schemas"]["MeterReading"]
    assert meter_schema["additionalProperties"] is False
    assert set(meter_schema["required"]) == {"meterId", "kwhConsumedAc", "voltage", "timestamp"}
