"""Vehicle-meter links written by the vehicle writer's statement, against the rule they follow.

The rule (db/batch_writes.py): a reading's meterId starts a link when it differs from the link
in force at its time, the latest of the stored links and the batch's earlier readings of the
same vehicle. The statement takes a per-vehicle shortcut when a vehicle names one meter in the
batch; random batches (out of order, duplicates, readings without a meter, explicit links set
between batches, some at a reading's very timestamp) must give exactly the links the rule
gives.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC
from typing import Any

import psycopg
import pytest

from db.batch_writes import connect, write_copy
from db.efficiency_queries import SET_LINK
from processor.domain.kinds import VEHICLE
from tests.helpers import query

pytestmark = pytest.mark.integration

Links = dict[str, dict[int, str]]  # vehicle -> {minute: meter}


def ts(minute: int) -> str:
    return f"2026-06-15T{10 + minute // 60:02d}:{minute % 60:02d}:00+00:00"


def apply_rule(links: Links, stored: set[tuple[str, int]],
               batch: list[tuple[str, int, str | None]]) -> None:
    """The links a batch adds, by the rule, reading by reading (the model)."""
    inserted = []
    for vehicle, minute, meter in batch:
        if (vehicle, minute) not in stored:
            stored.add((vehicle, minute))
            inserted.append((vehicle, minute, meter))
    before = {v: dict(m) for v, m in links.items()}  # the statement sees the links before it
    for vehicle in {v for v, _, _ in inserted}:
        readings = sorted((m, meter) for v, m, meter in inserted if v == vehicle and meter)
        known = before.get(vehicle, {})
        previous: tuple[int, str] | None = None
        for minute, meter in readings:
            starts = [s for s in known if s <= minute]
            current = (max(starts), known[max(starts)]) if starts else None
            if previous and (current is None or previous[0] > current[0]):
                in_force: str | None = previous[1]
            else:
                in_force = current[1] if current else None
            if meter != in_force:
                links.setdefault(vehicle, {}).setdefault(minute, meter)  # ON CONFLICT DO NOTHING
            previous = (minute, meter)


def scenario(rng: random.Random, prefix: str) -> list[tuple[str, Any]]:
    """Steps: ("batch", readings) or ("link", (vehicle, minute, meter))."""
    vehicles = [f"{prefix}-v{i}" for i in range(4)]
    meters = [f"{prefix}-m{i}" for i in range(3)]
    usual = {v: rng.choice(meters) for v in vehicles}
    steps: list[tuple[str, Any]] = []
    sent: list[tuple[str, int, str | None]] = []
    for _ in range(6):
        if rng.random() < 0.4:
            vehicle = rng.choice(vehicles)
            minute = rng.choice([m for v, m, _ in sent if v == vehicle] or [rng.randrange(40)])
            steps.append(("link", (vehicle, minute, rng.choice(meters))))
        batch: dict[tuple[str, int], str | None] = {}
        for _ in range(rng.randrange(1, 25)):
            if sent and rng.random() < 0.15:  # a redelivered reading
                vehicle, minute, meter = rng.choice(sent)
            else:
                vehicle, minute = rng.choice(vehicles), rng.randrange(40)
                if rng.random() < 0.1:
                    usual[vehicle] = rng.choice(meters)
                draw = rng.random()
                meter = None if draw < 0.15 else rng.choice(meters) if draw < 0.3 else \
                    usual[vehicle]
            batch.setdefault((vehicle, minute), meter)
        readings = [(v, m, meter) for (v, m), meter in batch.items()]
        rng.shuffle(readings)
        sent.extend(readings)
        steps.append(("batch", readings))
    return steps


async def run(dsn: str, steps: list[tuple[str, Any]]) -> None:
    conn = await connect(dsn)
    try:
        for kind, step in steps:
            if kind == "link":
                vehicle, minute, meter = step
                async with conn.transaction():
                    await conn.execute(SET_LINK, (vehicle, ts(minute), meter))  # type: ignore
                continue
            rows = [(v, ts(m), 50.0, 0.1, 25.0, meter) for v, m, meter in step]
            try:
                await write_copy(conn, "vehicle", VEHICLE.encode_rows(rows), expect_new=True)
            except psycopg.errors.UniqueViolation:
                await write_copy(conn, "vehicle", VEHICLE.encode_rows(rows))
    finally:
        await conn.close()


def test_links_follow_the_rule_in_random_batches(own_database: str) -> None:
    dsn = own_database
    rng = random.Random(20261129)
    expected: Links = {}
    stored: set[tuple[str, int]] = set()
    all_steps = []
    for k in range(40):
        steps = scenario(rng, f"s{k}")
        all_steps.extend(steps)
        for kind, step in steps:
            if kind == "link":
                vehicle, minute, meter = step
                expected.setdefault(vehicle, {})[minute] = meter  # SET_LINK overwrites
            else:
                apply_rule(expected, stored, step)
    asyncio.run(run(dsn, all_steps))
    got: Links = {}
    for vehicle, valid_from, meter in query(
            dsn, "SELECT vehicle_id, valid_from, meter_id FROM vehicle_meter_link"):
        at = valid_from.astimezone(UTC)
        minute = (at.hour - 10) * 60 + at.minute
        got.setdefault(vehicle, {})[minute] = meter
    assert got == expected
    # The scenarios reach both ways of the statement: vehicles with one meter in a batch and
    # vehicles with several, links set between batches and at a reading's own minute.
    assert sum(len(v) for v in expected.values()) > 200
