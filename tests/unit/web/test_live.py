"""A live answer from the table is the answer PostgreSQL's row gives: the same JSON."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from processor.domain.kinds import METER, VEHICLE
from processor.web.live import live_document, table_document


def test_a_table_value_answers_what_its_row_answers() -> None:
    rng = random.Random(21)
    base = datetime(2026, 2, 10, 19, tzinfo=UTC)
    for _ in range(500):
        ts = base + timedelta(seconds=rng.randrange(10**7), microseconds=rng.randrange(10**6))
        changed = ts + timedelta(microseconds=rng.randrange(10**8))
        meter = (f"M-{rng.randrange(100)}", ts, rng.uniform(0, 50), rng.uniform(180, 260),
                 changed)
        vehicle = (f"V-{rng.randrange(100)}", ts, rng.uniform(0, 100), rng.uniform(0, 50),
                   rng.uniform(-20, 60), rng.choice([None, "M-7"]), changed)
        for kind, row in ((METER, meter), (VEHICLE, vehicle)):
            # the writer returns (id, ts, values..., updated_at); the live query selects
            # (id, values..., ts, updated_at)
            selected = (row[0], *row[2:-1], row[1], row[-1])
            assert table_document(kind, row[0], kind.live_value(row)) == live_document(
                kind, selected)


def test_a_value_kept_before_the_tables_held_updated_at_is_not_answered() -> None:
    value = {"ts": "2026-02-10T19:03:00.000000+00:00", "kwhConsumedAc": 0.5, "voltage": 230.0}
    assert table_document(METER, "M-1", value) is None
