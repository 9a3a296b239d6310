"""The efficiency rules without a broker or a database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from processor.alerts import judge
from processor.analytics import (
    Figures,
    crossing,
    efficiency,
    fmt2,
    fmt_percent,
    hour_buckets,
    infer_meter,
    parse_at,
    performance,
    sort_worst_first,
    status,
    trailing_id,
    window,
)
from processor.routing import partition_for
from processor.web.analytics import encode_fleet
from processor.windows import apply_hours, expired_keys, hour_key, hour_value, key_hour
from processor.writers import live_entries, live_value

T0 = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)


def figures(vid: str = "V1", meter: str | None = "M1", ac: float = 10.5, dc: float = 8.5,
            temp_sum: float = 32.0, temp_n: int = 1) -> Figures:
    return Figures(vid, meter, "inferred" if meter else None, ac, dc, temp_sum, temp_n, 1, 1)


def test_seed_figures_give_80_95_percent() -> None:
    start, end = window(T0)
    doc = performance(figures(), start, end, 0.85)
    assert doc["vehicleId"] == "V1"
    assert doc["period"] == "24 hours"
    assert doc["metrics"] == {"totalAcConsumed": "10.50", "totalDcDelivered": "8.50",
                              "efficiency": "80.95%", "averageBatteryTemp": "32.00"}
    assert doc["meterId"] == "M1" and doc["link"] == "inferred"
    assert doc["window"] == {"start": "2026-02-09T19:00:00Z", "end": "2026-02-10T19:00:00Z"}
    assert doc["status"] == "low_efficiency"


def test_efficiency_is_undefined_without_ac() -> None:
    assert efficiency(0.0, 3.0) is None
    assert efficiency(4.0, 3.0) == 0.75
    assert fmt_percent(None) == "N/A"
    assert fmt_percent(0.75) == "75.00%"
    assert fmt2(-0.0) == "0.00" and fmt2(2.005) == "2.00"  # binary floats, as toFixed


@pytest.mark.parametrize(("device", "suffix"), [
    ("V1", "1"), ("M1", "1"), ("V-201", "201"), ("M-201", "201"), ("EV_7", "7"),
    ("veh:42", "42"), ("V-0001", "0001"), ("123", None), ("V", None), ("V-", None),
])
def test_trailing_id_follows_the_device_type_prefix(device: str, suffix: str | None) -> None:
    assert trailing_id(device) == suffix


def test_inference_needs_exactly_one_matching_meter() -> None:
    assert infer_meter("V1", ["M1", "M2"]) == "M1"
    assert infer_meter("V-201", ["M-201", "M-202"]) == "M-201"
    assert infer_meter("V-201", ["M-201", "MTR-201"]) is None  # ambiguous
    assert infer_meter("V-9", ["M-1"]) is None


def test_status_order() -> None:
    assert status(None, 0.5, 0.85) == "no_meter_linked"
    assert status("M1", None, 0.85) == "no_data"
    assert status("M1", 0.8, 0.85) == "low_efficiency"
    assert status("M1", 0.85, 0.85) == "ok"


def test_an_alert_fires_once_per_crossing() -> None:
    seen = []
    flagged = None
    for ratio in (0.9, 0.8, 0.7, None, 0.8, 0.9, 0.95, 0.5):
        change = crossing(flagged, ratio, 0.85)
        seen.append(change)
        if ratio is not None:
            flagged = ratio < 0.85
    assert seen == [None, "low", None, None, None, "recovered", None, "low"]


def test_judge_emits_events_only_for_crossings() -> None:
    start, end = window(T0)
    figs = [figures("V1", ac=10, dc=7), figures("V2", ac=10, dc=9), figures("V3", ac=0, dc=0),
            figures("V4", meter=None, ac=10, dc=1)]
    first = judge(figs, {}, 0.85, start, end, T0)
    assert [(v, e["type"]) for v, e in first.events] == [("V1", "efficiency_low")]
    assert first.events[0][1]["efficiencyText"] == "70.00%"
    assert {s[0]: s[1] for s in first.states} == {"V1": True, "V2": False}
    again = judge(figs, {"V1": True, "V2": False}, 0.85, start, end, T0)
    assert again.events == []
    recovered = judge([figures("V1", ac=10, dc=9)], {"V1": True}, 0.85, start, end, T0)
    assert [e["type"] for _v, e in recovered.events] == ["efficiency_recovered"]


def test_hour_buckets_cut_the_window_at_whole_hours() -> None:
    start = datetime(2026, 2, 10, 18, 20, tzinfo=UTC)
    buckets = hour_buckets(start, start + timedelta(hours=24))
    assert len(buckets) == 25
    assert buckets[0] == (start, datetime(2026, 2, 10, 19, tzinfo=UTC))
    assert buckets[-1] == (datetime(2026, 2, 11, 18, tzinfo=UTC), start + timedelta(hours=24))
    assert all(a[1] == b[0] for a, b in zip(buckets, buckets[1:], strict=False))
    assert len(hour_buckets(T0 - timedelta(hours=24), T0)) == 24


def test_parse_at_accepts_zones_and_reads_naive_as_utc() -> None:
    assert parse_at(None) is None
    assert parse_at("2026-02-10T19:00:00Z") == T0
    assert parse_at("2026-02-10T21:00:00 02:00") == T0  # '+' decoded as a space
    assert parse_at("2026-02-10T19:00:00") == T0
    with pytest.raises(ValueError):
        parse_at("yesterday")


def test_fleet_sorts_worst_efficiency_first() -> None:
    rows = [{"vehicleId": "A", "efficiencyRatio": 0.9}, {"vehicleId": "B", "efficiencyRatio": None},
            {"vehicleId": "C", "efficiencyRatio": 0.7}]
    assert [r["vehicleId"] for r in sort_worst_first(rows)] == ["C", "A", "B"]


def test_hourly_window_keys_round_trip_and_expire() -> None:
    key = hour_key("V-1|x", T0)
    assert key == "V-1|x|2026-02-10T19:00Z"
    assert key_hour(key) == ("V-1|x", T0)
    old = hour_key("V-1", T0 - timedelta(hours=49))
    assert expired_keys([key, old], T0 - timedelta(hours=48)) == [old]


class RecordedChangelog:
    """Changelog.set_many without a broker: the table changes, the records are counted."""

    def __init__(self) -> None:
        self.records: list[str] = []

    def set_many(self, table: Any, entries: Any) -> None:
        for _, key, value in entries:
            table.data[key] = value
            self.records.append(key)


def test_restated_hours_are_recorded_only_where_the_table_differs() -> None:
    table = SimpleNamespace(data={})
    rows = [("V-1", T0, 1.5, 30.0, 2, 2), ("V-2", T0, 0.5, 20.0, 1, 1)]
    changelog = RecordedChangelog()
    apply_hours(changelog, table, "vehicle", rows, 8)  # type: ignore[arg-type]
    assert len(changelog.records) == 2
    restated = [rows[0], ("V-2", T0, 0.75, 40.0, 2, 2),  # V-2 gained a reading the table lacks
                ("V-3", T0 - timedelta(hours=49), 1.0, 10.0, 1, 1)]  # outside the window
    apply_hours(changelog, table, "vehicle", restated, 8,  # type: ignore[arg-type]
                restated_since=T0 - timedelta(hours=48))
    assert changelog.records[2:] == [hour_key("V-2", T0)]
    assert table.data[hour_key("V-2", T0)]["readings"] == 2


@pytest.mark.parametrize("count", [0, 1, 499, 500, 1234])
def test_fleet_encoded_in_chunks_equals_one_encoding(count: int) -> None:
    at = datetime(2026, 2, 10, tzinfo=UTC)
    body = {"period": "24 hours", "threshold": 0.85, "count": count,
            "vehicles": [{"vehicleId": f"V-{i}", "efficiencyRatio": i / 1000 or None,
                          "lastSeen": at, "alert": i % 7 == 0} for i in range(count)]}
    encoded = asyncio.run(encode_fleet(body))
    assert orjson.loads(encoded) == orjson.loads(orjson.dumps(body, default=str))


def test_table_values_are_the_returned_rows_under_the_readings_names() -> None:
    at = T0 + timedelta(minutes=3)
    assert live_value("meter", ("M-1", at, 0.5, 230.0)) == {
        "ts": "2026-02-10T19:03:00.000000+00:00", "kwhConsumedAc": 0.5, "voltage": 230.0}
    assert live_value("vehicle", ("V-1", at, 50.0, 1.5, 30.0, None)) == {
        "ts": "2026-02-10T19:03:00.000000+00:00", "soc": 50.0, "kwhDeliveredDc": 1.5,
        "batteryTemp": 30.0, "meterId": None}
    assert hour_value("meter", ("M-1", T0, 1.5, 3)) == {"kwhConsumedAc": 1.5, "readings": 3}
    assert hour_value("vehicle", ("V-1", T0, 1.5, 60.0, 2, 3)) == {
        "kwhDeliveredDc": 1.5, "batteryTempSum": 60.0, "batteryTempCount": 2, "readings": 3}


def test_live_entries_skip_rows_not_newer_than_the_table() -> None:
    table = {"M-1": live_value("meter", ("M-1", T0 + timedelta(minutes=5), 1.0, 230.0))}
    rows = [("M-1", T0 + timedelta(minutes=5), 9.0, 231.0),  # the same minute: not newer
            ("M-2", T0, 2.0, 229.0),  # not in the table yet
            ("M-3", T0 + timedelta(minutes=1), 3.0, 228.0)]
    entries = list(live_entries("meter", rows, table, 8))
    assert [(key, value["kwhConsumedAc"]) for _, key, value in entries] == [("M-2", 2.0),
                                                                          ("M-3", 3.0)]
    assert [partition for partition, _, _ in entries] == [partition_for("M-2", 8),
                                                          partition_for("M-3", 8)]
