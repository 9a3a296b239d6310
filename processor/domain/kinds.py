"""The device kinds, one record each: every per-kind fact in one place.

A reading's ``type`` names its kind. The record says how its readings are named in JSON, in
which topic its routed batches travel, which PostgreSQL tables and columns hold it, how a row
of those tables becomes a value of the Faust tables, and the order of a COPY row's fields. A
third kind of device is a third record here, a model in ``readings.py``, its plain check in
``fast_path.py``, its statements in ``db/batch_writes.py`` and a migration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from processor.domain.copy_rows import meter_row, micros, text_lines, vehicle_row
from processor.domain.readings import MeterReading, Reading, VehicleReading

Row = Sequence[Any]


@lru_cache(maxsize=8192)
def iso_utc(ts: datetime) -> str:
    """A UTC instant as PostgreSQL reads it back exactly (cached: a fleet shares its times)."""
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class DeviceKind:
    name: str  # a reading's "type"
    id_field: str  # the device id's JSON field
    # JSON fields after the id and the timestamp, in the order of the staging columns, the
    # COPY row and every row the writer statement returns (a vehicle's meterId last)
    value_fields: tuple[str, ...]
    id_column: str
    value_columns: tuple[str, ...]
    rollup_columns: tuple[str, ...]  # an hourly rollup's totals, after (id, hour)
    topic: str  # its routed batches (docs/architecture.md, section 1)
    model: type[MeterReading] | type[VehicleReading]  # the rules (readings.py)
    # (id, ts as microseconds, values...) -> one binary COPY row (copy_rows.py)
    copy_row: Callable[..., bytes]
    text_columns: frozenset[int]  # columns that hold text (ids), the others numbers
    # live row (id, ts, values..., updated_at) -> the live table's value
    live_value: Callable[[Row], dict[str, Any]]
    # rollup row (id, hour, totals...) -> the hourly table's value
    hour_value: Callable[[Row], dict[str, Any]]

    @property
    def history_table(self) -> str:
        return f"{self.name}_history"

    @property
    def live_table(self) -> str:
        """The PostgreSQL table and the Faust table of the latest reading of each device."""
        return f"{self.name}_live"

    @property
    def hourly_table(self) -> str:
        """The PostgreSQL rollups and the Faust table of recent hours (device|hour keys)."""
        return f"{self.name}_hourly"

    @property
    def live_columns(self) -> tuple[str, ...]:
        """A live row as the writer statement returns it: the reading, then when the row
        last changed (what ``GET /v1/.../live`` answers as ``updatedAt``)."""
        return (*self.columns, "updated_at")

    @property
    def columns(self) -> tuple[str, ...]:
        """The staging table's columns, in COPY order."""
        return (self.id_column, "ts", *self.value_columns)

    def row_of(self, values: Row) -> bytes:
        """A row of values (id, ts as a datetime or a zoned ISO-8601 string, values...) as
        binary COPY. The router packs plainly valid readings without this (fast_path.py)."""
        ts = values[1] if isinstance(values[1], datetime) else datetime.fromisoformat(values[1])
        return self.copy_row(values[0], micros(ts), *values[2:])

    def encode_rows(self, rows: Iterator[Row] | Sequence[Row]) -> bytes:
        return b"".join(self.row_of(row) for row in rows)

    def as_binary(self, message: bytes) -> bytes:
        """A routed batch message's rows in the binary format: as they are, or converted from
        the COPY text that routers wrote before note 30 (lines start with an id, binary rows
        with a zero byte), so an upgraded writer still writes what an older router left."""
        if message[:1] == b"\x00":
            return message
        numbers = slice(2, 2 + sum(1 for c in range(2, len(self.columns))
                                   if c not in self.text_columns))
        return self.encode_rows(list(text_lines(message, numbers)))


def reading_row(reading: Reading) -> tuple[Any, ...]:
    """A validated reading's values in its kind's column order (id, ts, values...)."""
    if isinstance(reading, MeterReading):
        return (reading.meterId, reading.timestamp, reading.kwhConsumedAc, reading.voltage)
    return (reading.vehicleId, reading.timestamp, reading.soc, reading.kwhDeliveredDc,
            reading.batteryTemp, reading.meterId)


def _meter_live(row: Row) -> dict[str, Any]:
    return {"ts": iso_utc(row[1]), "kwhConsumedAc": row[2], "voltage": row[3],
            "updatedAt": iso_utc(row[4])}


def _vehicle_live(row: Row) -> dict[str, Any]:
    return {"ts": iso_utc(row[1]), "soc": row[2], "kwhDeliveredDc": row[3],
            "batteryTemp": row[4], "meterId": row[5], "updatedAt": iso_utc(row[6])}


def _meter_hour(row: Row) -> dict[str, Any]:
    return {"kwhConsumedAc": row[2], "readings": row[3]}


def _vehicle_hour(row: Row) -> dict[str, Any]:
    return {"kwhDeliveredDc": row[2], "batteryTempSum": row[3], "batteryTempCount": row[4],
            "readings": row[5]}


# Dict literals in the value functions: a writer's batch builds one per device and device-hour.
METER = DeviceKind(
    name="meter", id_field="meterId", value_fields=("kwhConsumedAc", "voltage"),
    id_column="meter_id", value_columns=("kwh_consumed_ac", "voltage"),
    rollup_columns=("kwh_consumed_ac", "readings"),
    topic="telemetry.meter", model=MeterReading, copy_row=meter_row,
    text_columns=frozenset({0}), live_value=_meter_live, hour_value=_meter_hour)
VEHICLE = DeviceKind(
    name="vehicle", id_field="vehicleId",
    value_fields=("soc", "kwhDeliveredDc", "batteryTemp", "meterId"),
    id_column="vehicle_id",
    value_columns=("soc", "kwh_delivered_dc", "battery_temp", "meter_id"),
    rollup_columns=("kwh_delivered_dc", "battery_temp_sum", "battery_temp_count", "readings"),
    topic="telemetry.vehicle", model=VehicleReading, copy_row=vehicle_row,
    text_columns=frozenset({0, 5}), live_value=_vehicle_live, hour_value=_vehicle_hour)

KINDS: dict[str, DeviceKind] = {kind.name: kind for kind in (METER, VEHICLE)}
BY_TOPIC: dict[str, DeviceKind] = {kind.topic: kind for kind in KINDS.values()}
