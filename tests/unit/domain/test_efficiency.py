"""The 24-hour efficiency rules (processor/domain/efficiency.py), without a broker or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processor.domain.efficiency import (
    crossing,
    efficiency,
    fmt2,
    fmt_percent,
    hour_buckets,
    parse_at,
    performance,
    sort_worst_first,
    status,
    window,
)
from tests.unit.figures import figures

T0 = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)


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
