"""The simulated fleet is realistic enough to demo and test the analytics on."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from processor.domain.validation import validate_reading
from producers.fleet import BATTERY_KWH, STANDBY_KWH, Fleet, minutes, read_truth


def test_fleet_readings_are_valid_linked_and_mostly_efficient() -> None:
    fleet = Fleet(200, seed=1)
    start = datetime(2026, 2, 10, tzinfo=UTC)
    ac: dict[str, float] = defaultdict(float)
    dc: dict[str, float] = defaultdict(float)
    link = {}
    for at in minutes(start, start + timedelta(hours=6)):
        for reading in fleet.minute(at):
            assert not isinstance(validate_reading(reading, at), tuple), reading
            if reading["type"] == "meter":
                ac[reading["meterId"]] += reading["kwhConsumedAc"]
            else:
                dc[reading["vehicleId"]] += reading["kwhDeliveredDc"]
                link[reading["vehicleId"]] = reading["meterId"]
                assert reading["vehicleId"][1:] == reading["meterId"][1:]
    efficiencies = {v: dc[v] / ac[link[v]] for v in dc if dc[v] > 1}
    assert len(efficiencies) > 150
    assert all(e < 1 for e in efficiencies.values())  # AC above DC
    healthy = sum(0.86 <= e <= 0.96 for e in efficiencies.values())
    faulty = sum(e < 0.85 for e in efficiencies.values())
    assert healthy / len(efficiencies) > 0.85
    assert 1 <= faulty <= 0.15 * len(efficiencies)


def test_minutes_are_whole_and_bounded() -> None:
    start = datetime(2026, 2, 10, 0, 0, 30, tzinfo=UTC)
    got = list(minutes(start, start + timedelta(minutes=3)))
    assert got == [datetime(2026, 2, 10, 0, m, tzinfo=UTC) for m in range(4)]


def test_the_ground_truth_says_which_vehicles_were_made_faulty(tmp_path: Path) -> None:
    fleet = Fleet(2_000, seed=7)
    truth = fleet.truth()
    faulty = {vid for vid, _mid, eff, bad in truth if bad}
    assert all(eff < 0.85 for _vid, _mid, eff, bad in truth if bad)
    assert all(eff >= 0.88 for _vid, _mid, eff, bad in truth if not bad)
    assert 50 <= len(faulty) <= 150  # about one in twenty
    fleet.write_truth(tmp_path / "truth.csv")
    assert {vid for vid, bad in read_truth(tmp_path / "truth.csv").items() if bad} == faulty
    assert Fleet(2_000, seed=7).truth() == truth  # the seed makes the same fleet


def device_minute(reading: dict[str, Any]) -> tuple[str, str]:
    return str(reading.get("vehicleId") or reading["meterId"]), str(reading["timestamp"])


def readings_by_device(fleet: Fleet, start: datetime,
                       end: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """(device id, timestamp) -> its reading, for every minute in [start, end)."""
    return {device_minute(r): r for at in minutes(start, end) for r in fleet.minute(at)}


def test_a_device_and_minute_give_the_same_reading_wherever_the_replay_starts() -> None:
    """``make run`` twice replays hours already stored: they must repeat, not contradict."""
    start = datetime(2026, 2, 10, 5, 0, tzinfo=UTC)
    first = readings_by_device(Fleet(20, seed=3), start, start + timedelta(hours=14))
    later = start + timedelta(hours=9, minutes=17)  # another run, later and in another period
    second = readings_by_device(Fleet(20, seed=3), later, later + timedelta(hours=7))
    overlap = first.keys() & second.keys()
    assert len(overlap) == 40 * (4 * 60 + 43)
    assert all(first[k] == second[k] for k in overlap)
    # Minutes asked out of order, one at a time, give the same readings too.
    lone = Fleet(20, seed=3)
    for at in (later + timedelta(hours=2), start, later, start + timedelta(minutes=361)):
        assert all(r == first[device_minute(r)] for r in lone.minute(at))


def test_the_seed_changes_every_reading_and_the_same_seed_repeats_them() -> None:
    at = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)
    one, again, other = (list(Fleet(50, seed=s).minute(at)) for s in (1, 1, 2))
    assert one == again
    assert sum(a == b for a, b in zip(one, other, strict=True)) == 0


def test_a_seed_keeps_its_readings_across_releases() -> None:
    """Pinned: a simulator that gave other values for the same seed would make every hour
    already stored by an earlier release conflict on the next ``make run``."""
    at = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)
    meter, vehicle = list(Fleet(3, seed=42).minute(at))[:2]
    assert meter == {"type": "meter", "meterId": "M-0001", "kwhConsumedAc": 0.179384,
                     "voltage": 232.95, "timestamp": "2026-02-10T19:00:00Z"}
    assert vehicle == {"type": "vehicle", "vehicleId": "V-0001", "soc": 72.859,
                       "kwhDeliveredDc": 0.158172, "batteryTemp": 23.71,
                       "timestamp": "2026-02-10T19:00:00Z", "meterId": "M-0001"}
    assert sum(v.faulty for v in Fleet(10_000, seed=42).vehicles) == 485  # as README says


def test_the_state_of_charge_follows_the_energy_and_sessions_recur() -> None:
    """Charging raises the state of charge by what the battery stored; unplugged, a vehicle
    draws the charger's standby, stores nothing and its charge only falls (driving)."""
    fleet = Fleet(40, seed=5)
    start = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    last: dict[str, dict[str, Any]] = {}
    sessions: dict[str, int] = defaultdict(int)
    for at in minutes(start, start + timedelta(hours=18)):
        readings = fleet.minute(at)
        for meter in readings:
            vehicle = next(readings)
            vid = vehicle["vehicleId"]
            dc, ac = vehicle["kwhDeliveredDc"], meter["kwhConsumedAc"]
            assert 15 <= vehicle["batteryTemp"] <= 45 and 220 <= meter["voltage"] <= 240
            before = last.get(vid)
            if dc == 0:
                assert ac == STANDBY_KWH
            if before is not None:
                gained = vehicle["soc"] - before["soc"]
                if dc > 0:
                    assert abs(gained - dc / BATTERY_KWH * 100) < 0.002, (vid, at)
                    sessions[vid] += before["kwhDeliveredDc"] == 0
                else:
                    assert -1.6 < gained <= 0.0005, (vid, at)
            last[vid] = vehicle
    assert all(10 <= v["soc"] <= 100 for v in last.values())
    assert min(sessions[v.vehicle_id] for v in fleet.vehicles) >= 2  # one every 6 hours
