"""The input, generated and encoded before any clock starts.

Readings come from ``producers.fleet.Fleet`` (the simulator's own shape): meters and vehicles, a
reading a minute each, time-ordered, in the past (starting a day ago, on a whole hour).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from processor.domain.partitioning import partition_for
from producers.fleet import Fleet

Message = tuple[bytes | None, bytes]  # key, value


@dataclass(frozen=True)
class Input:
    readings: list[dict[str, Any]]
    start: datetime

    @property
    def devices(self) -> int:
        return len({r.get("vehicleId") or r["meterId"] for r in self.readings})

    def single_messages(self, limit: int | None = None) -> list[Message]:
        """One reading a message, keyed by its device id (as devices publish)."""
        chosen = self.readings if limit is None else self.readings[:limit]
        return [(device_id(r).encode(), encode(r)) for r in chosen]

    def batched_messages(self, size: int) -> list[Message]:
        """JSON arrays of ``size`` consecutive readings, without a key (as gateways publish)."""
        return [(None, encode(self.readings[i:i + size]))
                for i in range(0, len(self.readings), size)]


def device_id(reading: dict[str, Any]) -> str:
    return str(reading.get("vehicleId") or reading["meterId"])


def encode(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def start_time(hours_ago: float = 24.0) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def generate(vehicles: int, minutes: int, start: datetime | None = None,
             seed: int = 42) -> Input:
    """``vehicles`` vehicles and as many meters, ``minutes`` minutes of readings."""
    start = start or start_time()
    fleet = Fleet(vehicles, seed)
    readings: list[dict[str, Any]] = []
    for k in range(minutes):
        readings.extend(fleet.minute(start + timedelta(minutes=k)))
    return Input(readings, start)


def probe_ids(kind: str, partitions: int, tag: str) -> list[str]:
    """Device ids, one per partition, for warm-up readings that reach every partition."""
    letter = "M" if kind == "meter" else "V"
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        candidate = f"{letter}probe-{tag}-{n}"
        found.setdefault(partition_for(candidate, partitions), candidate)
        n += 1
    return [found[p] for p in range(partitions)]


def probe_readings(partitions: int, tag: str, at: datetime) -> list[dict[str, Any]]:
    """A meter and a vehicle reading for every partition."""
    ts = at.isoformat().replace("+00:00", "Z")
    meters = [{"type": "meter", "meterId": m, "kwhConsumedAc": 0.001, "voltage": 230.0,
               "timestamp": ts} for m in probe_ids("meter", partitions, tag)]
    vehicles = [{"type": "vehicle", "vehicleId": v, "soc": 50.0, "kwhDeliveredDc": 0.0,
                 "batteryTemp": 25.0, "timestamp": ts}
                for v in probe_ids("vehicle", partitions, tag)]
    return meters + vehicles
