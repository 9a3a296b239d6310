"""Reading models: the rules of DESIGN.md section 2, one field at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_FUTURE = timedelta(minutes=5)

MAX_KWH = 10_000.0  # per interval: a 10 MW site for an hour; more is a unit or sensor error

DeviceId = Annotated[str, Field(pattern=DEVICE_ID_PATTERN)]
# Bounded so that sums over windows can never overflow (1e308 + 1e308 would stop a writer).
Kwh = Annotated[float, Field(ge=0, le=MAX_KWH, allow_inf_nan=False)]


def parse_timestamp(value: Any, now: datetime | None = None) -> datetime:
    """ISO-8601 with a zone, at most five minutes ahead of ``now``; returned in UTC."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string with a time zone")
    ts = _utc(value)
    if ts - (now or datetime.now(UTC)) > MAX_FUTURE:
        raise ValueError("is more than 5 minutes in the future")
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
        now = info.context.get("now") if info.context else None
        return parse_timestamp(value, now)


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
