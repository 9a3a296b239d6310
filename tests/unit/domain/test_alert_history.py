"""Alert episodes: each crossing paired with what ended it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processor.domain.alert_history import AlertEvent, episodes

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def event(vid: str, kind: str, minutes: int, ratio: float | None = 0.7) -> AlertEvent:
    at = T0 + timedelta(minutes=minutes)
    return AlertEvent(vid, kind, "low_efficiency", ratio, 0.85, f"M{vid[1:]}", at - timedelta(1),
                      at, at)


def test_a_crossing_is_paired_with_its_recovery_and_an_open_one_stays_open() -> None:
    found = episodes([
        event("V1", "efficiency_recovered", 30, 0.9), event("V1", "efficiency_low", 10),
        event("V2", "efficiency_low", 20, 0.6),
    ])
    assert [(e["vehicleId"], e["crossedAt"], e["recoveredAt"], e["endedBy"]) for e in found] == [
        ("V2", "2026-03-01T00:20:00Z", None, None),
        ("V1", "2026-03-01T00:10:00Z", "2026-03-01T00:30:00Z", "recovered")]
    assert found[1]["efficiency"] == "70.00%" and found[1]["recoveredEfficiency"] == "90.00%"


def test_an_alert_closed_as_idle_says_so_and_a_vehicle_can_cross_again() -> None:
    found = episodes([
        event("V1", "efficiency_low", 0), event("V1", "efficiency_unjudged", 5, None),
        event("V1", "efficiency_low", 60), event("V1", "efficiency_low", 61),  # repeated
    ])
    assert [(e["crossedAt"][11:16], e["endedBy"]) for e in found] == [("01:00", None),
                                                                       ("00:00", "idle")]


def test_an_end_without_its_crossing_is_left_out() -> None:
    assert episodes([event("V1", "efficiency_recovered", 5)]) == []
    assert episodes([]) == []
