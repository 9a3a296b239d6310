"""The backfill benchmark's arithmetic: lag in seconds and the longest standstill."""

from __future__ import annotations

from benchmarks.backfill import Sample, lag_seconds, longest_flat


def test_lag_seconds_is_how_long_ago_the_end_reached_the_commit() -> None:
    ends = [(0.0, 0), (1.0, 100), (2.0, 300), (3.0, 300), (4.0, 500)]
    assert lag_seconds(ends, 500, 4.0) == 0.0  # all committed
    assert lag_seconds(ends, 300, 4.0) == 2.0  # the end reached 300 at t=2
    assert lag_seconds(ends, 200, 4.0) == 2.5  # halfway between t=1 and t=2
    assert lag_seconds(ends, 0, 4.0) == 4.0
    assert lag_seconds([], 0, 1.0) == 0.0


def sample(t: float, raw: int, stored: int) -> Sample:
    return Sample(t, 1000, raw, {"meter": 0}, {"meter": 0}, None, {"meter": stored})


def test_longest_flat_counts_only_while_the_router_moves() -> None:
    samples = [sample(0, 0, 0), sample(1, 10, 5), sample(2, 20, 5), sample(3, 30, 5),
               sample(4, 40, 9), sample(5, 40, 9), sample(6, 40, 9), sample(7, 50, 9),
               sample(8, 60, 12)]
    # stored stayed at 5 from t=1 to t=3 while raw moved (2 s); at 9 from t=4 to t=7, but
    # raw moved only from t=6 to t=7 (1 s: the router was idle too before)
    assert longest_flat(samples) == 2.0
    assert longest_flat(samples[:2]) == 0.0
