"""The router gate: paused above the high mark, resumed at the low one, never flapping between."""

from __future__ import annotations

import pytest

from processor.domain.backpressure import RouterGate, Turn, waiting


def test_the_router_pauses_above_the_bound_and_resumes_at_half() -> None:
    gate = RouterGate(50)
    assert [gate.judge(lag) for lag in (0, 50, 51, 80, 30, 26, 25, 10, 51)] == [
        None, None, Turn.PAUSE, None, None, None, Turn.RESUME, None, Turn.PAUSE]


def test_a_new_assignment_forgets_the_pause() -> None:
    gate = RouterGate(10)
    assert gate.judge(11) is Turn.PAUSE
    gate.reset()
    assert not gate.paused
    assert gate.judge(8) is None  # nothing to resume: Faust resumed the partitions itself


def test_the_marks_must_leave_a_gap() -> None:
    with pytest.raises(ValueError):
        RouterGate(0)
    with pytest.raises(ValueError):
        RouterGate(10, low=10)
    assert RouterGate(1).low == 0


def test_waiting_counts_known_partitions_and_never_below_zero() -> None:
    # (end offset, position): a low end offset (the embedded broker's) counts as nothing
    assert waiting([(120, 100), (7, 9), (None, 3), (50, None), (40, 40)]) == 20
