"""Where a device lives, and how valid readings become partition-aligned batches.

Every client must agree on a device's partition: Faust (aiokafka) and Java clients hash keys with
murmur2, so the router does too, and confluent-kafka producers set ``murmur2_random``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2

from processor.models import MeterReading, Reading, VehicleReading

MeterRow = tuple[str, str, float, float]  # meter_id, ts, kwh_consumed_ac, voltage
VehicleRow = tuple[str, str, float, float, float, str | None]
# vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id
Row = tuple[Any, ...]


@lru_cache(maxsize=262_144)
def partition_for(device_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for this key."""
    return (murmur2(device_id.encode()) & 0x7FFFFFFF) % partitions


def to_row(reading: Reading) -> Row:
    ts = reading.timestamp.isoformat(timespec="microseconds")
    if isinstance(reading, MeterReading):
        return (reading.meterId, ts, reading.kwhConsumedAc, reading.voltage)
    assert isinstance(reading, VehicleReading)
    return (reading.vehicleId, ts, reading.soc, reading.kwhDeliveredDc, reading.batteryTemp,
            reading.meterId)


@dataclass(frozen=True)
class RoutedBatch:
    kind: str  # "meter" or "vehicle"
    partition: int
    rows: list[Row]

    def encode(self) -> bytes:
        return encode_batch(self.kind, self.rows)


def route(readings: list[Reading], partitions: int, max_rows: int) -> list[RoutedBatch]:
    """Group readings by type and owning partition, in arrival order, at most max_rows a batch."""
    groups: dict[tuple[str, int], list[Row]] = defaultdict(list)
    for reading in readings:
        groups[(reading.type, partition_for(reading.device_id, partitions))].append(
            to_row(reading)
        )
    batches = []
    for (kind, partition), rows in groups.items():
        for start in range(0, len(rows), max_rows):
            batches.append(RoutedBatch(kind, partition, rows[start:start + max_rows]))
    return batches


def encode_batch(kind: str, rows: list[Row]) -> bytes:
    """The internal batch message: ``{"type": kind, "rows": [[...], ...]}`` (see docs)."""
    return json.dumps({"type": kind, "rows": rows}, separators=(",", ":")).encode()


def decode_batch(raw: bytes) -> tuple[str, list[Row]]:
    document = json.loads(raw)
    return document["type"], [tuple(row) for row in document["rows"]]
