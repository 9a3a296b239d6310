"""The hourly chart's recent hours: which hours the tables surely hold, and the figures with the
tables' totals added are the figures the rollups give."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from processor.domain.efficiency import Figures
from processor.domain.kinds import METER, VEHICLE
from processor.domain.recent_hours import (
    HOUR,
    MARGIN,
    TablePieces,
    hours,
    tables_from,
    with_table_hours,
)
from processor.domain.table_entries import expired_keys, hour_key


def test_the_first_table_hour_is_never_expired() -> None:
    rng = random.Random(7)
    for _ in range(1000):
        now = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**6))
        first = tables_from(48, now)
        assert first.minute == first.second == first.microsecond == 0
        assert first - HOUR <= now - timedelta(hours=48) + MARGIN < first
        # the expiry timer, run at any moment until MARGIN later, keeps it
        later = now + rng.random() * MARGIN
        keys = [hour_key("V-1", first), hour_key("V-1", first - HOUR)]
        assert hour_key("V-1", first) not in expired_keys(keys, later - timedelta(hours=48))


def test_hours_are_the_hour_starts_of_a_range() -> None:
    lo = datetime(2026, 2, 10, 19, tzinfo=UTC)
    assert list(hours(lo, lo + 3 * HOUR)) == [lo, lo + HOUR, lo + 2 * HOUR]
    assert list(hours(lo, lo)) == []


def figures(rng: random.Random) -> Figures:
    return Figures(vehicle_id="V-1", meter_id="M-1", link="explicit",
                   ac_kwh=rng.uniform(0, 9), dc_kwh=rng.uniform(0, 9),
                   temp_sum=rng.uniform(0, 900), temp_count=rng.randrange(30),
                   meter_readings=rng.randrange(30), vehicle_readings=rng.randrange(30))


def test_table_hours_are_added_to_the_figures_as_the_rollups_would_sum_them() -> None:
    rng = random.Random(21)
    lo = datetime(2026, 2, 10, 12, tzinfo=UTC)
    for _ in range(200):
        # rollup rows (id, hour, totals...) as the writer returned them: the tables' values
        vehicle_rows = [("V-1", lo + k * HOUR, rng.uniform(0, 5), rng.uniform(0, 400),
                         rng.randrange(1, 60), rng.randrange(1, 60))
                        for k in range(6) if rng.random() < 0.7]
        meter_rows = {m: [(m, lo + k * HOUR, rng.uniform(0, 5), rng.randrange(1, 60))
                          for k in range(6) if rng.random() < 0.7] for m in ("M-1", "M-2")}
        vehicle = {row[1]: VEHICLE.hour_value(row) for row in vehicle_rows}
        meters = {m: {row[1]: METER.hour_value(row) for row in rows}
                  for m, rows in meter_rows.items()}
        v_from, v_to = sorted(rng.sample(range(7), 2))
        m_from, m_to = sorted(rng.sample(range(7), 2))
        pieces = TablePieces(vehicle=(lo + v_from * HOUR, lo + v_to * HOUR),
                             meters=(("M-2", lo + m_from * HOUR, lo + m_to * HOUR),))
        base = figures(rng)
        got = with_table_hours(base, pieces, vehicle, meters)
        in_v = [r for r in vehicle_rows if lo + v_from * HOUR <= r[1] < lo + v_to * HOUR]
        in_m = [r for r in meter_rows["M-2"] if lo + m_from * HOUR <= r[1] < lo + m_to * HOUR]
        assert got.dc_kwh == sum((r[2] for r in in_v), base.dc_kwh)
        assert got.temp_sum == sum((r[3] for r in in_v), base.temp_sum)
        assert got.temp_count == base.temp_count + sum(r[4] for r in in_v)
        assert got.vehicle_readings == base.vehicle_readings + sum(r[5] for r in in_v)
        assert got.ac_kwh == sum((r[2] for r in in_m), base.ac_kwh)
        assert got.meter_readings == base.meter_readings + sum(r[3] for r in in_m)
        assert (got.vehicle_id, got.meter_id, got.link) == ("V-1", "M-1", "explicit")


def test_a_bucket_without_table_hours_keeps_its_figures() -> None:
    base = figures(random.Random(3))
    assert with_table_hours(base, TablePieces(vehicle=None, meters=()), {}, {}) == base
