"""A simulated fleet: meters and the vehicles charging on them, one reading a minute each.

Deterministic: a device's reading for a minute is a function of the seed, the device's index and
the minute alone, so a replay of hours already published (``make run`` twice, two ``simulate``
runs that overlap) repeats the stored readings exactly, and the pipeline counts them as silent
duplicates instead of dead-lettering them as conflicts.

Each vehicle ``V-n`` charges on meter ``M-n`` (the link is also carried as ``meterId``). Its
time is cut into periods of ``PERIOD_MINUTES`` (each vehicle's shifted by a phase of its own);
in every period it plugs in once, charges from one state of charge to another, and spends the
rest of the time unplugged (driving: the state of charge falls evenly to where the next session
starts). A session depends only on (seed, vehicle, period), so any minute is computed from at
most two sessions, without replaying from some start. While charging, the meter draws AC at the
charger's power and the battery stores DC = AC x efficiency; most vehicles are 88-95% efficient,
about one in twenty is faulty (70-84%). ``Fleet.truth`` says which: the ground truth the
efficiency alerts are checked against.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import random
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from processor.errors import StartupError

BATTERY_KWH = 75.0
# A charger's own draw in a minute with nothing plugged in: 6 W, an efficient wall box's idle
# power. It dilutes a 24-hour figure (AC with no DC): a healthy 88% vehicle that charged only
# a little reads below 85%. MIN_CHARGE_KWH was chosen against it (docs/architecture.md).
STANDBY_KWH = 0.0001
TRUTH_COLUMNS = ("vehicle_id", "meter_id", "efficiency", "faulty")
# One charging session per vehicle in every period of 6 hours: about half the fleet charges at
# any moment, and most vehicles charge within any two hours (as the first simulator had it).
PERIOD_MINUTES = 360
UNPLUGGED_MINUTES = 30  # at least, at either end of a period: sessions never touch
SESSION_SOC = (20.0, 70.0)  # percentage points a session would add (less when the charger is slow)
FULL_SOC = (80.0, 100.0)  # where a session stops: above any session's start (at most 80)
# A session warms the battery by TEMP_RISE a minute (12 degrees at most, in 300 minutes), and
# it cools as fast: a session's heat is gone when the period after next begins, so a minute's
# temperature needs only the sessions of its period and the one before.
TEMP_RISE = 0.04
TEMP_FALL = 0.04
TEMP_MAX = 45.0


@dataclass(frozen=True)
class Vehicle:
    vehicle_id: str
    meter_id: str
    efficiency: float
    charger_kw: float
    phase: int  # minutes its periods are shifted by, so the fleet does not plug in at once
    ambient: float  # battery temperature when it has not charged for a while
    faulty: bool = False
    index: int = 0  # n of V-n: with the seed, what every reading of the vehicle derives from


@dataclass(frozen=True)
class Session:
    """A vehicle plugged in: minutes since the epoch, ``end`` the first minute unplugged."""

    start: int
    end: int
    soc_from: float
    soc_to: float
    rate: float  # state of charge gained a whole minute (percentage points)


def device_ids(index: int, width: int) -> tuple[str, str]:
    return f"M-{index:0{width}d}", f"V-{index:0{width}d}"


def _uniforms(seed: int, key: str) -> tuple[float, float, float, float]:
    """Four numbers in [0, 1) that depend on (seed, key) only: not on what was drawn before
    (a counter-based generator; blake2b is ~6 times cheaper than seeding a random.Random)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=16).digest()
    a, b, c, d = struct.unpack("<4I", digest)
    return a / 2**32, b / 2**32, c / 2**32, d / 2**32


class Fleet:
    def __init__(self, size: int, seed: int = 42, faulty_share: float = 0.05,
                 standby_kwh: float = STANDBY_KWH) -> None:
        self.seed = seed
        self.standby_kwh = standby_kwh  # per minute, with nothing charging
        width = max(4, len(str(size)))
        # A vehicle's constants are the seed's n-th draws, in the order the first simulator
        # made them, so a seed keeps the faulty vehicles it always had (and a fleet of 100 is
        # the first 100 of a fleet of 200).
        rng = random.Random(seed)
        self.vehicles: list[Vehicle] = []
        for i in range(1, size + 1):
            meter_id, vehicle_id = device_ids(i, width)
            faulty = rng.random() < faulty_share
            efficiency = rng.uniform(0.70, 0.84) if faulty else rng.uniform(0.88, 0.95)
            charger_kw = rng.choice((7.4, 11.0, 22.0))
            phase = int(rng.uniform(0, PERIOD_MINUTES))  # was the first state of charge
            rng.random()  # was whether it started charging
            self.vehicles.append(Vehicle(
                vehicle_id, meter_id, efficiency, charger_kw, phase,
                ambient=rng.uniform(18, 30), faulty=faulty, index=i))
        # Per vehicle: the period whose sessions are kept, and those of the periods around it
        # (only a cache: sessions are recomputed the same whenever asked).
        self._near: list[tuple[int, Session, Session, Session] | None] = [None] * size

    def truth(self) -> list[tuple[str, str, float, bool]]:
        """(vehicle, meter, true efficiency, faulty) of every vehicle, as the fleet was made."""
        return [(v.vehicle_id, v.meter_id, v.efficiency, v.faulty) for v in self.vehicles]

    def write_truth(self, path: Path) -> None:
        """The ground truth as CSV (``TRUTH_COLUMNS``), written whole or not at all (when
        ``path`` is a device or a FIFO, written into it: see ``write_output``)."""
        truth = self.truth()
        write_output(path, lambda out: _write_truth(out, truth))

    def session(self, vehicle: Vehicle, period: int) -> Session:
        """The vehicle's one session in ``period``, from (seed, vehicle, period) alone."""
        u_soc, u_power, u_size, u_start = _uniforms(self.seed, f"{vehicle.index}:s{period}")
        soc_to = FULL_SOC[0] + (FULL_SOC[1] - FULL_SOC[0]) * u_soc
        power = 0.97 + 0.03 * u_power  # of the charger's rating, for this session
        rate = vehicle.charger_kw / 60 * power * vehicle.efficiency / BATTERY_KWH * 100
        longest = PERIOD_MINUTES - 2 * UNPLUGGED_MINUTES
        wanted = SESSION_SOC[0] + (SESSION_SOC[1] - SESSION_SOC[0]) * u_size
        gain = min(wanted, rate * longest)  # a slow charger fills less in a period
        length = min(longest, math.ceil(gain / rate))
        begins = period * PERIOD_MINUTES - vehicle.phase + UNPLUGGED_MINUTES
        start = begins + int(u_start * (longest - length + 1))
        return Session(start, start + length, soc_to - gain, soc_to, rate)

    def _sessions(self, position: int, vehicle: Vehicle,
                  period: int) -> tuple[Session, Session, Session]:
        near = self._near[position]
        if near is None or near[0] != period:
            if near is not None and near[0] == period - 1:
                sessions = (near[2], near[3], self.session(vehicle, period + 1))
            else:
                sessions = (self.session(vehicle, period - 1), self.session(vehicle, period),
                            self.session(vehicle, period + 1))
            near = (period, *sessions)
            self._near[position] = near
        return near[1], near[2], near[3]

    def minute(self, at: datetime) -> Iterator[dict[str, Any]]:
        """Every device's reading for the minute ``at`` (meter first, then its vehicle)."""
        ts = at.isoformat().replace("+00:00", "Z")
        m = int(at.timestamp() // 60)
        seed = self.seed
        for position, v in enumerate(self.vehicles):
            before, current, after = self._sessions(position, v, (m + v.phase) // PERIOD_MINUTES)
            u_volt, u_angle, u_temp, _ = _uniforms(seed, f"{v.index}:m{m}")
            if current.start <= m < current.end:  # charging
                done = m - current.start
                soc_was = current.soc_from + current.rate * done
                soc = min(current.soc_to, soc_was + current.rate)
                dc = (soc - soc_was) / 100 * BATTERY_KWH
                ac = dc / v.efficiency
            else:  # unplugged: between the last session and the next
                last, following = (before, current) if m < current.start else (current, after)
                parked = m - last.end + 1
                soc = last.soc_to + ((following.soc_from - last.soc_to) * parked
                                     / (following.start - last.end))
                ac, dc = self.standby_kwh, 0.0
            temp = min(TEMP_MAX, v.ambient + max(_heat(before, m), _heat(current, m)))
            voltage = 230 + 2 * math.sqrt(-2 * math.log(1 - u_volt)) * math.cos(
                2 * math.pi * u_angle)
            yield {"type": "meter", "meterId": v.meter_id, "kwhConsumedAc": round(ac, 6),
                   "voltage": round(voltage, 2), "timestamp": ts}
            yield {"type": "vehicle", "vehicleId": v.vehicle_id, "soc": round(soc, 3),
                   "kwhDeliveredDc": round(dc, 6),
                   "batteryTemp": round(temp + (u_temp - 0.5) * 0.1, 2),
                   "timestamp": ts, "meterId": v.meter_id}


def _heat(session: Session, m: int) -> float:
    """Degrees above ambient that ``session`` leaves in the battery at minute ``m``."""
    if m < session.start:
        return 0.0
    if m < session.end:
        return TEMP_RISE * (m - session.start + 1)
    return max(0.0, TEMP_RISE * (session.end - session.start) - TEMP_FALL * (m - session.end + 1))


def minutes(start: datetime, end: datetime | None) -> Iterator[datetime]:
    """Whole minutes from ``start`` on (to ``end`` exclusive when given)."""
    at = start.replace(second=0, microsecond=0)
    while end is None or at < end:
        yield at
        at += timedelta(minutes=1)


def write_output(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write a text file the producers make, never replacing what is not a regular file.

    A regular file (or a new one) is written beside it and renamed over it: whole or not at
    all. A character device or a FIFO (``/dev/null``, ``/dev/stdout``, a pipe to a reader) is
    written into, as a shell redirection would: renaming over it would put a regular file in
    its place (as root, ``/dev/null`` itself). Anything else (a directory, a block device, a
    socket) is refused with ``OutputPathError``.
    """
    try:
        mode = os.stat(path).st_mode  # through symbolic links: what a write would reach
    except FileNotFoundError:
        mode = None
    if mode is not None and (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        with open(path, "w", newline="") as out:
            write(out)
        return
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputPathError(f"refusing to write to {path}: it is {_kind(mode)}, not a regular "
                              "file, a character device or a FIFO")
    target = Path(os.path.realpath(path))  # a link stays a link: its file is replaced
    if mode is not None and not (target.exists() and os.path.samefile(target, path)):
        with open(path, "w", newline="") as out:  # /proc/self/fd/N and the like: no name to
            write(out)  # rename over, so in place
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", newline="") as out:
            write(out)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


class OutputPathError(StartupError):
    """An output path the producers will not write to; the text says why (``energy-ingest``
    prints it as one ``error:`` line, and ``up`` does not restart the simulator for it)."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _write_truth(out: TextIO, rows: list[tuple[str, str, float, bool]]) -> None:
    writer = csv.writer(out)
    writer.writerow(TRUTH_COLUMNS)
    writer.writerows((vid, mid, f"{eff:.6f}", "true" if faulty else "false")
                     for vid, mid, eff, faulty in rows)


def read_truth(path: Path) -> dict[str, bool]:
    """Vehicle id -> faulty, from a file ``write_truth`` made."""
    with path.open(newline="") as source:
        return {row["vehicle_id"]: row["faulty"] == "true" for row in csv.DictReader(source)}
