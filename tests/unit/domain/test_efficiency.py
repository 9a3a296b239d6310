"""The 24-hour efficiency rules (processor/domain/efficiency.py), without a broker or a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from processor.domain.efficiency import (
    Rules,
    crossing,
    efficiency,
    fmt2,
    fmt_percent,
    hour_buckets,
    hour_efficiency,
    judged,
    parse_at,
    performance,
    sort_worst_first,
    status,
    window,
    window_of,
)
from tests.unit.figures import figures

T0 = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)
RULES = Rules(threshold=0.85, min_charge_kwh=1.0, hysteresis=0.01)


def test_seed_figures_give_80_95_percent() -> None:
    start, end = window(T0)
    doc = performance(figures(), start, end, RULES)
    assert doc["vehicleId"] == "V1"
    assert doc["period"] == "24 hours"
    assert doc["metrics"] == {"totalAcConsumed": "10.50", "totalDcDelivered": "8.50",
                              "efficiency": "80.95%", "averageBatteryTemp": "32.00"}
    assert doc["meterId"] == "M1" and doc["link"] == "inferred"
    assert doc["window"] == {"start": "2026-02-09T19:00:00Z", "end": "2026-02-10T19:00:00Z",
                             "requestedEnd": "2026-02-10T19:00:00Z", "limitedBy": None}
    assert doc["status"] == "low_efficiency"
    assert doc["statusReason"] == "80.95% is below the 85.00% threshold"


def test_efficiency_is_undefined_without_ac() -> None:
    assert efficiency(0.0, 3.0) is None
    assert efficiency(4.0, 3.0) == 0.75
    assert fmt_percent(None) == "N/A"
    assert fmt_percent(0.75) == "75.00%"
    assert fmt2(-0.0) == "0.00" and fmt2(2.005) == "2.00"  # binary floats, as toFixed


def test_status_order() -> None:
    assert status(figures(meter=None, ac=10, dc=5), RULES) == "no_meter_linked"
    assert status(figures(ac=0, dc=0, readings=0), RULES) == "no_data"
    assert status(figures(ac=0, dc=0), RULES) == "idle"  # readings of zero energy
    assert status(figures(ac=10, dc=8), RULES) == "low_efficiency"
    assert status(figures(ac=10, dc=8.5), RULES) == "ok"  # at the threshold is not below it


def test_a_parked_car_is_idle_not_faulty() -> None:
    """The issue's parked car: a charger's standby draw and nothing delivered."""
    parked = figures(ac=0.06, dc=0.0)
    assert parked.efficiency == 0.0
    state, reason = judged(parked, RULES)
    assert state == "idle"
    assert reason == ("0.06 kWh of AC drawn, below the 1 kWh needed to judge efficiency "
                      "(MIN_CHARGE_KWH)")
    assert status(figures(ac=0.99, dc=0.5), RULES) == "idle"
    assert status(figures(ac=1.0, dc=0.5), RULES) == "low_efficiency"
    assert status(figures(ac=0.06, dc=0.0), Rules(min_charge_kwh=0.05)) == "low_efficiency"


def test_an_alert_fires_once_per_crossing_and_recovers_above_the_margin() -> None:
    seen = []
    flagged = False
    for ratio in (0.9, 0.8, 0.7, None, 0.8, 0.85, 0.859, 0.9, 0.95, 0.5, 0.855, 0.86):
        # None: an idle window (too little AC to judge), which changes nothing
        fig = figures(ac=0.1, dc=0) if ratio is None else figures(ac=10, dc=10 * ratio)
        change = crossing(flagged, fig, RULES)
        seen.append(change)
        flagged = change == "low" or (flagged and change is None)
    assert seen == [None, "low", None, "unjudged", "low", None, None, "recovered", None, "low",
                    None, "recovered"]


def test_a_window_cut_at_the_joint_watermark_says_so() -> None:
    start, end = window(T0)
    meter_ts = T0 - timedelta(minutes=30)
    vehicle_ts = T0 - timedelta(minutes=2)
    cut = meter_ts + timedelta(microseconds=1)
    fig = figures(end=cut, vehicle_ts=vehicle_ts, meter_ts=meter_ts)
    assert window_of(fig, start, end) == {
        "start": "2026-02-09T19:00:00Z", "end": "2026-02-10T18:30:00.000001Z",
        "requestedEnd": "2026-02-10T19:00:00Z", "limitedBy": "meter"}
    fig = figures(end=vehicle_ts + timedelta(microseconds=1), vehicle_ts=vehicle_ts,
                  meter_ts=T0)
    assert window_of(fig, start, end)["limitedBy"] == "vehicle"
    assert window_of(figures(end=end, vehicle_ts=T0, meter_ts=T0), start, end)["limitedBy"] \
        is None


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


def test_parked_cars_sort_after_every_judged_vehicle() -> None:
    rows = [{"vehicleId": "P", "efficiencyRatio": 0.0, "status": "idle"},
            {"vehicleId": "N", "efficiencyRatio": None, "status": "no_meter_linked"},
            {"vehicleId": "G", "efficiencyRatio": 0.93, "status": "ok"},
            {"vehicleId": "F", "efficiencyRatio": 0.80, "status": "low_efficiency"},
            {"vehicleId": "D", "efficiencyRatio": None, "status": "no_data"}]
    assert [r["vehicleId"] for r in sort_worst_first(rows)] == ["F", "G", "P", "D", "N"]


def test_an_hour_that_charged_too_little_has_no_efficiency_not_zero() -> None:
    rules = Rules(threshold=0.85, min_charge_kwh=2.4, hysteresis=0.01)  # 0.1 kWh an hour
    assert hour_efficiency(0.006, 0.0, rules) is None  # a charger's 6 W standby, no DC
    assert hour_efficiency(0.0, 0.0, rules) is None
    assert hour_efficiency(0.1, 0.09, rules) == pytest.approx(0.9)
    assert hour_efficiency(7.0, 0.0, rules) == 0.0  # real charging and no DC: a real 0%
    assert hour_efficiency(0.0, 0.0, Rules(min_charge_kwh=0.0)) is None  # never 0/0
