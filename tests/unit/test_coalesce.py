"""Coalescing: one live entry per device, newest timestamp wins."""

from __future__ import annotations

import random

from processor.coalesce import latest_per_device, newer


def test_latest_per_device_keeps_the_newest_whatever_the_order() -> None:
    rows = [(f"D{d}", f"2026-01-01T00:{m:02d}:00.000000+00:00", m) for d in range(5)
            for m in range(30)]
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        latest = latest_per_device(rows)
        assert set(latest) == {f"D{d}" for d in range(5)}
        assert all(row[2] == 29 for row in latest.values())


def test_equal_timestamps_keep_the_first_seen() -> None:
    rows = [("D", "2026-01-01T00:00:00.000000+00:00", "first"),
            ("D", "2026-01-01T00:00:00.000000+00:00", "second")]
    assert latest_per_device(rows)["D"][2] == "first"


def test_only_a_strictly_newer_reading_replaces_live_state() -> None:
    t1, t2 = "2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:01:00.000000+00:00"
    assert newer(t1, None)
    assert newer(t2, t1)
    assert not newer(t1, t2)
    assert not newer(t1, t1)
