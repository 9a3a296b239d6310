"""Reading models: the rules of a reading (README, "Readings"), one field at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_FUTURE = timedelta(minutes=5)
# MIN_READING_TIME's default: a reading older than this is a device clock that was never set
# (year 1, 1900, the Unix epoch), not history; stored, it would sit in the history for ever.
MIN_READING_TIME = datetime(2000, 1, 1, tzinfo=UTC)

MAX_KWH = 10_000.0  # per interval: a 10 MW site for an hour; more is a unit or sensor error

DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
# Bounded so that sums over windows can never overflow (1e308 + 1e308 would stop a writer).
Kwh = Annotated[float, Field(ge=0, le=MAX_KWH, allow_inf_nan=False)]


_earliest = MIN_READING_TIME  # this process's floor: set_min_reading_time


def set_min_reading_time(earliest: datetime) -> None:
    """Judge readings against ``earliest`` (the MIN_READING_TIME setting) from now on, in this
    process. The domain reads no settings, and the router and the HTTP ingest path cannot all
    be handed the floor on each call, so each process that judges readings sets it once at
    start-up; until then it is the setting's default, ``MIN_READING_TIME``."""
    global _earliest
    if earliest.tzinfo is None or earliest.utcoffset() is None:
        raise ValueError("MIN_READING_TIME needs a time zone (Z or an offset such as +02:00)")
    _earliest = earliest.astimezone(UTC)


def min_reading_time() -> datetime:
    """The earliest timestamp a reading judged in this process may carry."""
    return _earliest


def parse_timestamp(value: Any, now: datetime | None = None,
                    earliest: datetime | None = None) -> datetime:
    """ISO-8601 with a zone, at most five minutes ahead of ``now`` and not before ``earliest``
    (default: this process's MIN_READING_TIME); returned in UTC."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string with a time zone")
    ts = _utc(value)
    if ts - (now or datetime.now(UTC)) > MAX_FUTURE:
        raise ValueError("is more than 5 minutes in the future")
    floor = _earliest if earliest is None else earliest
    if ts < floor:
        raise ValueError(f"is before {floor.isoformat().replace('+00:00', 'Z')}, the earliest a "
                         "reading may be (MIN_READING_TIME)")
    return ts


@lru_cache(maxsize=8192)
def _utc(value: str) -> datetime:
    """The instant a zoned ISO-8601 string names, in UTC. Cached: a fleet's readings share
    timestamps (every device reports the same minute), and parsing was a sixth of the router's
    time on batches (errors are raised, so never cached)."""
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not an ISO-8601 date-time") from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("needs a time zone (Z or an offset such as +02:00)")
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before the first UTC instant
        raise ValueError("is out of range") from None


class _Reading(BaseModel):
    # strict: "10.5" and true are not numbers; forbid: unknown fields are errors.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    timestamp: datetime

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: Any, info: ValidationInfo) -> datetime:
        if not info.context:
            return parse_timestamp(value)
        return parse_timestamp(value, info.context.get("now"), info.context.get("earliest"))


class MeterReading(_Reading):
    """Grid side: AC energy drawn during the interval."""

    type: Literal["meter"] = "meter"
    meterId: DeviceId
    kwhConsumedAc: Kwh
    voltage: float = Field(gt=0, le=2000, allow_inf_nan=False)

    @property
    def device_id(self) -> str:
        return self.meterId


class VehicleReading(_Reading):
    """Battery side: DC energy stored during the interval; ``meterId`` names the charger's meter."""

    type: Literal["vehicle"] = "vehicle"
    vehicleId: DeviceId
    soc: float = Field(ge=0, le=100, allow_inf_nan=False)
    kwhDeliveredDc: Kwh
    batteryTemp: float = Field(ge=-60, le=150, allow_inf_nan=False)
    meterId: DeviceId | None = None

    @property
    def device_id(self) -> str:
        return self.vehicleId


Reading = MeterReading | VehicleReading
