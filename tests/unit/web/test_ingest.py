"""POST /v1/telemetry without a broker: parsing, limits, chunking and the exact replies."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from processor.domain.http_ingest import Plan, Reply, media_type_error, plan, reply
from processor.kafka.publisher import Publisher
from processor.ops.embedded import free_port
from processor.stream.metrics import claimed_type, lag

NOW = datetime(2026, 2, 10, 20, 0, tzinfo=UTC)


def meter(i: int = 1, **over: Any) -> dict[str, Any]:
    return {"type": "meter", "meterId": f"M{i}", "kwhConsumedAc": 10.5, "voltage": 220,
            "timestamp": "2026-02-10T19:00:00Z", **over}


def vehicle(i: int = 1, **over: Any) -> dict[str, Any]:
    return {"type": "vehicle", "vehicleId": f"V{i}", "soc": 75, "kwhDeliveredDc": 8.5,
            "batteryTemp": 32, "timestamp": "2026-02-10T19:00:00Z", **over}


def planned(body: Any, max_readings: int = 10_000, chunk: int = 500) -> Plan | Reply:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return plan(raw, max_readings, chunk, NOW)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert media_type_error(content_type) is None


@pytest.mark.parametrize(("content_type", "said"), [
    ("text/plain", "got 'text/plain'"),
    ("application/x-www-form-urlencoded", "got 'application/x-www-form-urlencoded'"),
    (None, "none was sent"),
])
def test_other_content_types_get_415_saying_what_was_sent(content_type: str | None,
                                                          said: str) -> None:
    answer = media_type_error(content_type)
    assert answer == Reply(415, {"error": f"Content-Type must be application/json; {said}",
                                 "accepted": 0})


@pytest.mark.parametrize("body", [b"{", b"not json", b"", b"\xff\xfe{", b'{"soc": NaN}',
                                  b"[" * 100_000])
def test_malformed_json_is_400_and_nothing_accepted(body: bytes) -> None:
    answer = planned(body)
    assert isinstance(answer, Reply) and answer.status == 400
    assert answer.body["accepted"] == 0
    assert answer.body["error"].startswith("malformed JSON: ")


@pytest.mark.parametrize("body", [42, "meter", None, {"type": "batch", "readings": "x"}])
def test_json_that_is_no_reading_is_422_on_the_body(body: Any) -> None:
    answer = planned(body)
    assert isinstance(answer, Reply) and answer.status == 422
    assert answer.body["accepted"] == 0
    assert answer.body["errors"] == [{"field": "body",
                                      "message": "not a reading or an array of readings"}]


def test_empty_array_is_422() -> None:
    answer = planned([])
    assert answer == Reply(422, {"error": "no readings: the array is empty", "accepted": 0,
                                 "errors": [{"field": "body", "message": "empty array"}]})


def test_more_readings_than_the_limit_is_413() -> None:
    answer = planned([meter(i) for i in range(11)], max_readings=10)
    assert isinstance(answer, Reply) and answer.status == 413
    assert answer.body == {"error": "11 readings in one request, at most 10 "
                                    "(HTTP_MAX_READINGS); split it into several requests",
                           "accepted": 0}


def test_single_reading_is_published_as_sent_keyed_by_device() -> None:
    body = json.dumps(meter(7), indent=2).encode()
    result = planned(body)
    assert isinstance(result, Plan) and not result.rejected
    assert [(c.key, c.value, c.indices) for c in result.chunks] == [(b"M7", body, [0])]


def test_vehicle_without_type_is_inferred_and_accepted() -> None:
    reading = vehicle(3)
    del reading["type"]
    result = planned(reading)
    assert isinstance(result, Plan) and result.chunks[0].key == b"V3"
    assert result.types == {0: "vehicle"}


def test_arrays_are_published_in_chunks_of_valid_readings() -> None:
    readings = [meter(i) if i % 2 else vehicle(i) for i in range(1201)]
    result = planned(readings, chunk=500)
    assert isinstance(result, Plan)
    assert [len(c.indices) for c in result.chunks] == [500, 500, 201]
    assert all(c.key is None for c in result.chunks)
    published = [r for c in result.chunks for r in json.loads(c.value)]
    assert published == readings
    assert [i for c in result.chunks for i in c.indices] == list(range(1201))


def test_batch_envelope_is_accepted_like_an_array() -> None:
    result = planned({"type": "batch", "readings": [meter(1), vehicle(2)]})
    assert isinstance(result, Plan)
    assert [json.loads(c.value) for c in result.chunks] == [[meter(1), vehicle(2)]]


def test_invalid_readings_are_rejected_by_index_and_field_and_the_rest_published() -> None:
    readings = [meter(0), meter(1, voltage=0), vehicle(2), vehicle(3, soc=101, colour="red"),
                "nonsense", meter(5, timestamp="2026-02-10T21:00:00Z")]
    result = planned(readings)
    assert isinstance(result, Plan)
    assert json.loads(result.chunks[0].value) == [meter(0), vehicle(2)]
    answer = reply(result, [None], "broker:9092")
    assert answer.status == 422
    assert answer.body["accepted"] == 2
    assert answer.body["error"] == "4 of 6 readings rejected; the other 2 were accepted"
    rejected = {r["index"]: {e["field"] for e in r["errors"]} for r in answer.body["rejected"]}
    assert rejected == {1: {"voltage"}, 3: {"soc", "colour"}, 4: {"reading"},
                        5: {"timestamp"}}
    messages = {e["field"]: e["message"] for r in answer.body["rejected"] for e in r["errors"]}
    assert messages["colour"] == "unknown field"
    assert messages["timestamp"] == "is more than 5 minutes in the future"


def test_a_single_invalid_reading_is_422_at_index_0_and_nothing_published() -> None:
    result = planned(meter(1, kwhConsumedAc=-1))
    assert isinstance(result, Plan) and result.chunks == []
    answer = reply(result, [], "broker:9092")
    assert answer.status == 422 and answer.body["accepted"] == 0
    assert answer.body["rejected"][0]["index"] == 0
    assert answer.body["rejected"][0]["errors"][0]["field"] == "kwhConsumedAc"


def test_a_date_that_overflows_in_utc_is_rejected_not_a_crash() -> None:
    result = planned([meter(1, timestamp="0001-01-01T00:00:00+14:00"), meter(2)])
    assert isinstance(result, Plan)
    assert list(result.rejected) == [0]
    assert [c.indices for c in result.chunks] == [[1]]


def test_all_valid_and_acked_is_202_with_the_count() -> None:
    result = planned([meter(i) for i in range(3)])
    assert isinstance(result, Plan)
    assert reply(result, [None] * len(result.chunks), "b:1") == Reply(202, {"accepted": 3})


def test_unacknowledged_readings_are_503_naming_the_broker_and_not_accepted() -> None:
    result = planned([meter(i) for i in range(3)])
    assert isinstance(result, Plan)
    answer = reply(result, ["Local: Message timed out"], "10.0.0.9:9092")
    assert answer == Reply(503, {
        "error": "the Kafka broker at 10.0.0.9:9092 did not acknowledge the readings "
                 "(Local: Message timed out); they were not accepted, retry later",
        "accepted": 0})


def test_a_partly_acknowledged_batch_lists_every_reading_not_accepted() -> None:
    result = planned([meter(i) for i in range(5)], chunk=2)
    assert isinstance(result, Plan)
    answer = reply(result, [None, "Broker: timeout", None], "b:1")
    assert answer.status == 503 and answer.body["accepted"] == 3
    assert [r["index"] for r in answer.body["rejected"]] == [2, 3]
    assert answer.body["rejected"][0]["errors"][0]["message"] == \
        "not acknowledged by the broker: Broker: timeout"


def test_publisher_reports_an_unreachable_broker_within_its_timeout() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    publisher = Publisher(address, timeout=1.0)
    started = time.monotonic()
    try:
        results = asyncio.run(publisher.publish("telemetry.raw", [(b"k", b"{}"), (None, b"[]")]))
    finally:
        publisher.close()
    assert len(results) == 2 and all(results)
    assert "timed out" in str(results[0]).lower()
    assert time.monotonic() - started < 8


def test_rejections_are_counted_under_the_type_they_claimed() -> None:
    assert claimed_type(json.dumps(meter(1)).encode()) == "meter"
    assert claimed_type(json.dumps({"vehicleId": "V"}).encode()) == "vehicle"
    assert claimed_type(json.dumps({"type": "toaster"}).encode()) == "unknown"
    assert claimed_type(b"not json") == "unknown"


def test_lag_never_goes_below_zero() -> None:
    assert lag(10, 4) == 6
    assert lag(10, 12) == 0  # Tansu can report the end offset a little low
    assert lag(None, 3) is None and lag(5, None) is None
