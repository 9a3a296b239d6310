"""Live state: only a strictly newer reading replaces it."""

from __future__ import annotations

from processor.coalesce import newer


def test_only_a_strictly_newer_reading_replaces_live_state() -> None:
    t1, t2 = "2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:01:00.000000+00:00"
    assert newer(t1, None)
    assert newer(t2, t1)
    assert not newer(t1, t2)
    assert not newer(t1, t1)
