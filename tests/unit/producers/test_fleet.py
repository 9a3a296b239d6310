"""The simulated fleet is realistic enough to demo and test the analytics on."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from processor.domain.validation import validate_reading
from producers.fleet import Fleet, minutes, read_truth


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
