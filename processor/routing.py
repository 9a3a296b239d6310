"""Where a device lives, and how valid readings become partition-aligned batches.

Every client must agree on a device's partition: Faust (aiokafka) and Java clients hash keys with
murmur2, so the router does too, and confluent-kafka producers set ``murmur2_random``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2

from processor.models import MeterReading, Reading, VehicleReading, iso_utc

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


def copy_line(reading: Reading) -> str:
    """A reading as one line of COPY text (what ``copy_text([to_row(reading)])`` gives,
    built in one step: this runs once per reading)."""
    ts = iso_utc(reading.timestamp)
    if isinstance(reading, MeterReading):
        return f"{reading.meterId}\t{ts}\t{reading.kwhConsumedAc!r}\t{reading.voltage!r}\n"
    assert isinstance(reading, VehicleReading)
    meter = reading.meterId if reading.meterId is not None else r"\N"
    return (f"{reading.vehicleId}\t{ts}\t{reading.soc!r}\t{reading.kwhDeliveredDc!r}\t"
            f"{reading.batteryTemp!r}\t{meter}\n")


@dataclass(frozen=True)
class RoutedBatch:
    kind: str  # "meter" or "vehicle"
    partition: int
    lines: list[str]  # COPY text, one reading a line

    def encode(self) -> bytes:
        """The batch message: the readings in PostgreSQL's COPY text format, one a line. The
        topic says the type; writers hand the bytes to COPY as they are, with no decoding
        (JSON here cost more than all of the writer's own work, see docs/performance.md)."""
        return "".join(self.lines).encode()


def route(lines: list[tuple[str, str, str]], partitions: int,
          max_rows: int) -> list[RoutedBatch]:
    """Group routed lines (type, device id, COPY line; ``processor.lines``) by type and owning
    partition, in arrival order, at most max_rows a batch."""
    groups: dict[tuple[str, int], list[str]] = {}
    for kind, device, text in lines:
        key = (kind, partition_for(device, partitions))
        group = groups.get(key)
        if group is None:
            groups[key] = [text]
        else:
            group.append(text)
    batches = []
    for (kind, partition), texts in groups.items():
        for start in range(0, len(texts), max_rows):
            batches.append(RoutedBatch(kind, partition, texts[start:start + max_rows]))
    return batches


def decode_batch(raw: bytes) -> list[tuple[str | None, ...]]:
    """The rows of a batch message, as text (``None`` for NULL): for tools and tests."""
    return [tuple(None if v == r"\N" else v for v in line.split("\t"))
            for line in raw.decode().splitlines()]
