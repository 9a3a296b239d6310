"""A simulated fleet: meters and the vehicles charging on them, one reading a minute each.

Pure and deterministic for a given seed: the simulator command publishes what this produces.
Each vehicle ``V-n`` charges on meter ``M-n`` (the link is also carried as ``meterId``). While
charging, the meter draws AC at the charger's power and the battery stores DC = AC x efficiency;
most vehicles are 88-95% efficient, about one in twenty is faulty (70-84%). ``Fleet.truth``
says which: the ground truth the efficiency alerts are checked against.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

BATTERY_KWH = 75.0
# A charger's own draw in a minute with nothing plugged in: 6 W, an efficient wall box's idle
# power. It dilutes a 24-hour figure (AC with no DC): a healthy 88% vehicle that charged only
# a little reads below 85%. MIN_CHARGE_KWH was chosen against it (docs/architecture.md).
STANDBY_KWH = 0.0001
TRUTH_COLUMNS = ("vehicle_id", "meter_id", "efficiency", "faulty")


@dataclass
class Vehicle:
    vehicle_id: str
    meter_id: str
    efficiency: float
    charger_kw: float
    soc: float
    charging: bool
    temp: float
    faulty: bool = False


def device_ids(index: int, width: int) -> tuple[str, str]:
    return f"M-{index:0{width}d}", f"V-{index:0{width}d}"


class Fleet:
    def __init__(self, size: int, seed: int = 42, faulty_share: float = 0.05,
                 standby_kwh: float = STANDBY_KWH) -> None:
        self.rng = random.Random(seed)
        self.standby_kwh = standby_kwh  # per minute, with nothing charging
        width = max(4, len(str(size)))
        self.vehicles = []
        for i in range(1, size + 1):
            meter_id, vehicle_id = device_ids(i, width)
            faulty = self.rng.random() < faulty_share
            efficiency = (self.rng.uniform(0.70, 0.84) if faulty
                          else self.rng.uniform(0.88, 0.95))
            self.vehicles.append(Vehicle(
                vehicle_id, meter_id, efficiency,
                charger_kw=self.rng.choice((7.4, 11.0, 22.0)),
                soc=self.rng.uniform(10, 90), charging=self.rng.random() < 0.5,
                temp=self.rng.uniform(18, 30), faulty=faulty))

    def truth(self) -> list[tuple[str, str, float, bool]]:
        """(vehicle, meter, true efficiency, faulty) of every vehicle, as the fleet was made."""
        return [(v.vehicle_id, v.meter_id, v.efficiency, v.faulty) for v in self.vehicles]

    def write_truth(self, path: Path) -> None:
        """The ground truth as CSV (``TRUTH_COLUMNS``), written whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", newline="") as out:
            _write_truth(out, self.truth())
        partial.replace(path)

    def minute(self, at: datetime) -> Iterator[dict[str, Any]]:
        """Every device's reading for the minute ``at`` (meter first, then its vehicle)."""
        ts = at.isoformat().replace("+00:00", "Z")
        rng = self.rng
        for v in self.vehicles:
            if v.charging and v.soc >= 99.5:
                v.charging = False
            elif not v.charging and rng.random() < 0.01:
                v.charging = True
            if v.charging:
                ac = v.charger_kw / 60 * rng.uniform(0.97, 1.0)
                dc = ac * v.efficiency
                v.soc = min(100.0, v.soc + dc / BATTERY_KWH * 100)
                v.temp = min(45.0, v.temp + rng.uniform(0, 0.08))
            else:
                ac = self.standby_kwh
                dc = 0.0
                v.soc = max(5.0, v.soc - rng.uniform(0, 0.05))  # driving or idle drain
                v.temp = max(15.0, v.temp - rng.uniform(0, 0.05))
            yield {"type": "meter", "meterId": v.meter_id, "kwhConsumedAc": round(ac, 6),
                   "voltage": round(rng.gauss(230, 2), 2), "timestamp": ts}
            yield {"type": "vehicle", "vehicleId": v.vehicle_id, "soc": round(v.soc, 3),
                   "kwhDeliveredDc": round(dc, 6), "batteryTemp": round(v.temp, 2),
                   "timestamp": ts, "meterId": v.meter_id}


def minutes(start: datetime, end: datetime | None) -> Iterator[datetime]:
    """Whole minutes from ``start`` on (to ``end`` exclusive when given)."""
    at = start.replace(second=0, microsecond=0)
    while end is None or at < end:
        yield at
        at += timedelta(minutes=1)


def _write_truth(out: TextIO, rows: list[tuple[str, str, float, bool]]) -> None:
    writer = csv.writer(out)
    writer.writerow(TRUTH_COLUMNS)
    writer.writerows((vid, mid, f"{eff:.6f}", "true" if faulty else "false")
                     for vid, mid, eff, faulty in rows)


def read_truth(path: Path) -> dict[str, bool]:
    """Vehicle id -> faulty, from a file ``write_truth`` made."""
    with path.open(newline="") as source:
        return {row["vehicle_id"]: row["faulty"] == "true" for row in csv.DictReader(source)}
