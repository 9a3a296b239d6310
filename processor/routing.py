"""Where a device lives, and how valid readings become partition-aligned batches.

Every client must agree on a device's partition: Faust (aiokafka) and Java clients hash keys with
murmur2, so the router does too, and confluent-kafka producers set ``murmur2_random``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2

from db.copy_format import meter_row, micros, vehicle_row
from processor.models import MeterReading, Reading, VehicleReading

Row = tuple[Any, ...]


@lru_cache(maxsize=262_144)
def partition_for(device_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for this key."""
    return (murmur2(device_id.encode()) & 0x7FFFFFFF) % partitions


def to_row(reading: Reading) -> Row:
    """A reading's values in the staging table's column order (tests and tools)."""
    if isinstance(reading, MeterReading):
        return (reading.meterId, reading.timestamp, reading.kwhConsumedAc, reading.voltage)
    assert isinstance(reading, VehicleReading)
    return (reading.vehicleId, reading.timestamp, reading.soc, reading.kwhDeliveredDc,
            reading.batteryTemp, reading.meterId)


def copy_row(reading: Reading) -> bytes:
    """A reading as one row of binary COPY (``db.copy_format``)."""
    ts = micros(reading.timestamp)
    if isinstance(reading, MeterReading):
        return meter_row(reading.meterId, ts, reading.kwhConsumedAc, reading.voltage)
    assert isinstance(reading, VehicleReading)
    return vehicle_row(reading.vehicleId, ts, reading.soc, reading.kwhDeliveredDc,
                       reading.batteryTemp, reading.meterId)


@dataclass(frozen=True)
class RoutedBatch:
    kind: str  # "meter" or "vehicle"
    partition: int
    rows: list[bytes]  # binary COPY rows, one a reading

    def encode(self) -> bytes:
        """The batch message: the readings as rows of PostgreSQL's binary COPY format. The
        topic says the type; writers hand the bytes to COPY as they are, with no decoding
        (JSON here cost more than all of the writer's own work, see docs/performance.md)."""
        return b"".join(self.rows)


def route(lines: list[tuple[str, str, bytes]], partitions: int,
          max_rows: int) -> list[RoutedBatch]:
    """Group routed lines (type, device id, COPY row; ``processor.lines``) by type and owning
    partition, in arrival order, at most max_rows a batch."""
    groups: dict[tuple[str, int], list[bytes]] = {}
    for kind, device, row in lines:
        key = (kind, partition_for(device, partitions))
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)
    batches = []
    for (kind, partition), rows in groups.items():
        for start in range(0, len(rows), max_rows):
            batches.append(RoutedBatch(kind, partition, rows[start:start + max_rows]))
    return batches
