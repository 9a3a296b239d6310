"""Validation rules of a reading (README, "Readings"), one at a time, on good and bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from processor.domain.readings import (
    MIN_READING_TIME,
    MeterReading,
    VehicleReading,
    min_reading_time,
    set_min_reading_time,
)
from processor.domain.validation import validate_message, validate_reading

NOW = datetime(2026, 2, 10, 20, 0, tzinfo=UTC)


def meter(**over: Any) -> dict[str, Any]:
    return {"type": "meter", "meterId": "M1", "kwhConsumedAc": 10.5, "voltage": 220,
            "timestamp": "2026-02-10T19:00:00Z", **over}


def vehicle(**over: Any) -> dict[str, Any]:
    return {"type": "vehicle", "vehicleId": "V1", "soc": 75, "kwhDeliveredDc": 8.5,
            "batteryTemp": 32, "timestamp": "2026-02-10T19:00:00Z", **over}


def fields(result: Any) -> set[str]:
    assert isinstance(result, tuple), f"expected errors, got {result!r}"
    return {e.field for e in result}


def test_seed_payloads_are_valid() -> None:
    m = validate_reading(meter(), NOW)
    v = validate_reading(vehicle(), NOW)
    assert isinstance(m, MeterReading) and m.kwhConsumedAc == 10.5 and m.voltage == 220
    assert isinstance(v, VehicleReading) and v.soc == 75 and v.meterId is None
    assert m.timestamp == datetime(2026, 2, 10, 19, tzinfo=UTC)


def test_type_is_inferred_from_the_id_field() -> None:
    m = {k: v for k, v in meter().items() if k != "type"}
    v = {k: v for k, v in vehicle(meterId="M1").items() if k != "type"}
    assert isinstance(validate_reading(m, NOW), MeterReading)
    assert isinstance(validate_reading(v, NOW), VehicleReading)


def test_unknown_type_and_missing_ids_are_rejected() -> None:
    assert fields(validate_reading(meter(type="gas"), NOW)) == {"type"}
    assert fields(validate_reading({"kwhConsumedAc": 1}, NOW)) == {"type"}
    assert fields(validate_reading([1, 2], NOW)) == {"reading"}


@pytest.mark.parametrize("device_id", ["", "x" * 65, "M 1", "M/1", "Mé", 17, None])
def test_device_id_rules(device_id: Any) -> None:
    assert fields(validate_reading(meter(meterId=device_id), NOW)) == {"meterId"}
    assert fields(validate_reading(vehicle(vehicleId=device_id), NOW)) == {"vehicleId"}


@pytest.mark.parametrize("device_id", ["M", "x" * 64, "a.b_c:d-9"])
def test_device_id_accepts_allowed_characters(device_id: str) -> None:
    assert isinstance(validate_reading(meter(meterId=device_id), NOW), MeterReading)


@pytest.mark.parametrize("kwh", [-0.001, float("nan"), float("inf"), "10.5", True, None])
def test_energy_must_be_a_finite_non_negative_number(kwh: Any) -> None:
    assert fields(validate_reading(meter(kwhConsumedAc=kwh), NOW)) == {"kwhConsumedAc"}
    assert fields(validate_reading(vehicle(kwhDeliveredDc=kwh), NOW)) == {"kwhDeliveredDc"}


def test_zero_energy_is_valid() -> None:
    assert isinstance(validate_reading(meter(kwhConsumedAc=0), NOW), MeterReading)


@pytest.mark.parametrize("voltage,ok", [(0, False), (-1, False), (0.1, True), (2000, True),
                                        (2000.01, False), (float("nan"), False)])
def test_voltage_range(voltage: float, ok: bool) -> None:
    result = validate_reading(meter(voltage=voltage), NOW)
    assert isinstance(result, MeterReading) if ok else fields(result) == {"voltage"}


@pytest.mark.parametrize("soc,ok", [(0, True), (100, True), (-0.1, False), (100.1, False)])
def test_soc_range(soc: float, ok: bool) -> None:
    result = validate_reading(vehicle(soc=soc), NOW)
    assert isinstance(result, VehicleReading) if ok else fields(result) == {"soc"}


@pytest.mark.parametrize("temp,ok", [(-60, True), (150, True), (-60.5, False), (151, False)])
def test_battery_temperature_range(temp: float, ok: bool) -> None:
    result = validate_reading(vehicle(batteryTemp=temp), NOW)
    assert isinstance(result, VehicleReading) if ok else fields(result) == {"batteryTemp"}


def test_vehicle_meter_link_must_be_a_device_id() -> None:
    assert isinstance(validate_reading(vehicle(meterId="M-7"), NOW), VehicleReading)
    assert fields(validate_reading(vehicle(meterId="bad id"), NOW)) == {"meterId"}


@pytest.mark.parametrize("ts", ["2026-02-10T19:00:00", "2026-02-10", "yesterday", 1770750000,
                                "2026-02-10T19:00:00Q", None])
def test_timestamp_needs_iso_8601_with_a_zone(ts: Any) -> None:
    assert fields(validate_reading(meter(timestamp=ts), NOW)) == {"timestamp"}


def test_timestamp_offsets_are_normalised_to_utc() -> None:
    r = validate_reading(meter(timestamp="2026-02-10T21:00:00+02:00"), NOW)
    assert isinstance(r, MeterReading)
    assert r.timestamp == datetime(2026, 2, 10, 19, tzinfo=UTC)
    assert r.timestamp.utcoffset() == timedelta(0)


def test_timestamp_more_than_five_minutes_ahead_is_rejected() -> None:
    ok = (NOW + timedelta(minutes=4, seconds=59)).isoformat()
    late = (NOW + timedelta(minutes=5, seconds=1)).isoformat()
    assert isinstance(validate_reading(meter(timestamp=ok), NOW), MeterReading)
    errors = validate_reading(meter(timestamp=late), NOW)
    assert fields(errors) == {"timestamp"}
    assert "future" in errors[0].message  # type: ignore[index]


def test_unknown_fields_are_rejected_by_name() -> None:
    errors = validate_reading(meter(colour="red"), NOW)
    assert fields(errors) == {"colour"}
    assert errors[0].message == "unknown field"  # type: ignore[index]


def test_every_bad_field_is_reported() -> None:
    assert fields(validate_reading(vehicle(soc=-1, batteryTemp=999), NOW)) == {"soc",
                                                                              "batteryTemp"}


def test_single_message() -> None:
    outcome = validate_message(json.dumps(meter()).encode(), NOW)
    assert len(outcome.readings) == 1 and outcome.rejections == []


def test_each_reading_of_a_batch_is_judged_on_its_own() -> None:
    for wrap in (lambda rs: rs, lambda rs: {"type": "batch", "readings": rs}):
        items = [meter(), vehicle(soc=500), vehicle(), "junk"]
        outcome = validate_message(json.dumps(wrap(items)).encode(), NOW)
        assert [r.device_id for r in outcome.readings] == ["M1", "V1"]
        assert [(r.index, r.errors[0].field) for r in outcome.rejections] == [(1, "soc"),
                                                                             (3, "reading")]
        assert json.loads(outcome.rejections[0].original)["soc"] == 500


def test_malformed_messages_are_rejected_whole_with_their_bytes() -> None:
    for raw in (b"{nope", b"\xff\xfe", b"42", b'"text"', b"null",
                b'{"type": "batch", "readings": 5}', b'{"type":"batch","readings":[],"x":1}'):
        outcome = validate_message(raw, NOW)
        assert outcome.readings == []
        assert len(outcome.rejections) == 1
        assert outcome.rejections[0].original == raw
        assert outcome.rejections[0].index is None


def test_empty_batches_and_empty_messages_are_rejected() -> None:
    assert validate_message(b"[]", NOW).rejections[0].errors[0].message == "empty batch"
    assert validate_message(None, NOW).rejections[0].errors[0].field == "message"


def test_deeply_nested_json_does_not_crash() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    outcome = validate_message(raw, NOW)
    assert outcome.readings == [] and len(outcome.rejections) >= 1


def test_timestamps_beyond_the_calendar_are_rejected_not_raised() -> None:
    for ts in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        assert fields(validate_reading(meter(timestamp=ts), NOW)) == {"timestamp"}


def test_energy_has_an_upper_bound_so_sums_cannot_overflow() -> None:
    assert isinstance(validate_reading(meter(kwhConsumedAc=10_000), NOW), MeterReading)
    assert fields(validate_reading(meter(kwhConsumedAc=10_000.01), NOW)) == {"kwhConsumedAc"}
    assert fields(validate_reading(vehicle(kwhDeliveredDc=1e308), NOW)) == {"kwhDeliveredDc"}


FLOOR_REASON = ("timestamp: is before 2000-01-01T00:00:00Z, the earliest a reading may be "
                "(MIN_READING_TIME)")


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z",
                                "1970-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z",
                                "2000-01-01T00:30:00+01:00"])
def test_readings_before_min_reading_time_are_rejected_naming_the_setting(ts: str) -> None:
    for item in (meter(timestamp=ts), vehicle(timestamp=ts)):
        errors = validate_reading(item, NOW)
        assert isinstance(errors, tuple)
        assert [(e.field, e.message) for e in errors] == [
            ("timestamp", "is before 2000-01-01T00:00:00Z, the earliest a reading may be "
                          "(MIN_READING_TIME)")]


def test_a_reading_at_min_reading_time_is_valid() -> None:
    for ts in ("2000-01-01T00:00:00Z", "2000-01-01T01:00:00+01:00"):
        r = validate_reading(meter(timestamp=ts), NOW)
        assert isinstance(r, MeterReading) and r.timestamp == MIN_READING_TIME


@pytest.mark.parametrize("as_lines", [False, True])
def test_a_message_from_year_1_is_dead_lettered_with_the_floor_as_its_reason(
        as_lines: bool) -> None:
    raw = json.dumps([meter(timestamp="0001-01-01T00:00:00Z"), meter(),
                      vehicle(timestamp="1900-06-01T12:00:00Z")]).encode()
    outcome = validate_message(raw, NOW, as_lines=as_lines)
    assert len(outcome.lines if as_lines else outcome.readings) == 1
    assert [(r.index, r.reason) for r in outcome.rejections] == [(0, FLOOR_REASON),
                                                                 (2, FLOOR_REASON)]


def test_the_floor_passed_in_replaces_the_default() -> None:
    later = datetime(2026, 1, 1, tzinfo=UTC)
    errors = validate_reading(meter(timestamp="2025-12-31T23:59:59Z"), NOW, later)
    assert isinstance(errors, tuple)
    assert errors[0].message == ("is before 2026-01-01T00:00:00Z, the earliest a reading may "
                                 "be (MIN_READING_TIME)")
    assert isinstance(validate_reading(meter(), NOW, later), MeterReading)
    raw = json.dumps(meter(timestamp="2025-06-01T00:00:00Z")).encode()
    for as_lines in (False, True):
        outcome = validate_message(raw, NOW, as_lines=as_lines, earliest=later)
        assert [r.errors[0].field for r in outcome.rejections] == ["timestamp"]


@pytest.fixture
def process_floor() -> Iterator[None]:
    yield
    set_min_reading_time(MIN_READING_TIME)


@pytest.mark.usefixtures("process_floor")
def test_the_process_floor_set_at_start_up_applies_to_every_later_judgement() -> None:
    set_min_reading_time(datetime(2026, 2, 10, 19, 30, tzinfo=timezone(timedelta(hours=1))))
    assert min_reading_time() == datetime(2026, 2, 10, 18, 30, tzinfo=UTC)
    raw = json.dumps([meter(timestamp="2026-02-10T18:29:59Z"),
                      meter(timestamp="2026-02-10T18:30:00Z")]).encode()
    for as_lines in (False, True):
        outcome = validate_message(raw, NOW, as_lines=as_lines)
        assert [r.index for r in outcome.rejections] == [0]
        assert "is before 2026-02-10T18:30:00Z" in outcome.rejections[0].reason
        assert len(outcome.lines if as_lines else outcome.readings) == 1
    assert fields(validate_reading(meter(timestamp="2026-02-10T18:00:00Z"), NOW)) == {
        "timestamp"}


@pytest.mark.usefixtures("process_floor")
def test_a_floor_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="MIN_READING_TIME needs a time zone"):
        set_min_reading_time(datetime(2010, 1, 1))
    assert min_reading_time() == MIN_READING_TIME
