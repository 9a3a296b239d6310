"""Efficiency alerts: events only for crossings (processor/stream/alerts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processor.domain.efficiency import Rules, window
from processor.stream.alerts import judge
from tests.unit.figures import figures

T0 = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)
RULES = Rules(threshold=0.85, min_charge_kwh=1.0, hysteresis=0.01)


def test_judge_emits_events_only_for_crossings() -> None:
    start, end = window(T0)
    figs = [figures("V1", ac=10, dc=7), figures("V2", ac=10, dc=9), figures("V3", ac=0, dc=0),
            figures("V4", meter=None, ac=10, dc=1), figures("V5", ac=0.06, dc=0)]
    first = judge(figs, {}, RULES, start, end, T0)
    assert [(v, e["type"]) for v, e in first.events] == [("V1", "efficiency_low")]
    assert first.events[0][1]["efficiencyText"] == "70.00%"
    assert {s[0]: s[1] for s in first.states} == {"V1": True, "V2": False}
    assert first.counts == {"low_efficiency": 1, "ok": 1, "idle": 2, "no_meter_linked": 1}
    again = judge(figs, {"V1": True, "V2": False}, RULES, start, end, T0)
    assert again.events == []
    recovered = judge([figures("V1", ac=10, dc=9)], {"V1": True}, RULES, start, end, T0)
    assert [e["type"] for _v, e in recovered.events] == ["efficiency_recovered"]
    assert recovered.states[0][1] is False


def test_a_flagged_vehicle_stays_flagged_inside_the_margin_and_is_closed_when_idle() -> None:
    start, end = window(T0)
    inside = judge([figures("V1", ac=10, dc=8.55)], {"V1": True}, RULES, start, end, T0)
    assert inside.events == [] and inside.states[0][1] is True  # 85.5% < 85% + 1 point
    # Its charge left the window: nothing to judge, so no alert can rest on it.
    idle = judge([figures("V1", ac=0.2, dc=0)], {"V1": True}, RULES, start, end, T0)
    assert [(e["type"], e["status"]) for _v, e in idle.events] == [
        ("efficiency_unjudged", "idle")]
    assert idle.states[0][1] is False and idle.flagged == []
    # An idle vehicle never flagged, or one without a meter: no event, the state stands.
    quiet = judge([figures("V2", ac=0.2, dc=0), figures("V3", meter=None, ac=0, dc=0)],
                  {"V3": True}, RULES, start, end, T0)
    assert quiet.events == [] and quiet.states == [] and quiet.flagged == [("V3", None)]


def test_the_event_states_the_window_it_judged() -> None:
    start, end = window(T0)
    meter_ts = T0 - timedelta(hours=1)
    fig = figures("V1", ac=10, dc=7, end=meter_ts + timedelta(microseconds=1),
                  vehicle_ts=T0, meter_ts=meter_ts)
    [(_vid, event)] = judge([fig], {}, RULES, start, end, T0).events
    assert event["window"] == {"start": "2026-02-09T19:00:00Z",
                               "end": "2026-02-10T18:00:00.000001Z"}


def test_one_summary_line_names_the_counts_and_the_worst() -> None:
    start, end = window(T0)
    figs = [figures(f"V{i}", ac=10, dc=5 + i / 10) for i in range(8)] + [
        figures("V9", ac=0.05, dc=0)]
    line = judge(figs, {}, RULES, start, end, T0).summary(RULES)
    assert line == ("efficiency alerts: 8 flagged below 85.00% (1 idle, 8 low_efficiency); "
                    "8 new, 0 recovered, 0 closed as idle; worst: V0 50.00%, V1 51.00%, "
                    "V2 52.00%, V3 53.00%, V4 54.00%")
