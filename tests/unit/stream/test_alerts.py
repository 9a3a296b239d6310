"""Efficiency alerts: events only for crossings (processor/stream/alerts.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from processor.domain.efficiency import (
    window,
)
from processor.stream.alerts import judge
from tests.unit.figures import figures

T0 = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)


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
