"""Valid readings as routed lines: (type, device id, the reading as a binary COPY row).

Most readings are plainly valid, and building a pydantic model for each one to encode it again
was two thirds of the router's time. ``PLAIN[type]`` (reached through
``validation.plain_line``, which knows a reading's type) turns a decoded reading whose every field
has the plain shape the models accept (numbers within the models' bounds, ids matching their
pattern, a zoned timestamp neither in the future nor before MIN_READING_TIME, no other field)
straight into its line, the same line as ``line_of(model)``. Anything else it hands back
(``None``) to the models, which judge it and word the errors: the models stay the rules. The
bounds are read from the models here, and this module refuses to import if their fields or
kinds of bounds change under it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from annotated_types import Ge, Gt, Le

from processor.domain.copy_rows import (
    link_field,
    meter_head,
    meter_values,
    micros,
    vehicle_head,
    vehicle_values,
)
from processor.domain.kinds import KINDS, reading_row
from processor.domain.readings import (
    DEVICE_ID_PATTERN,
    MAX_FUTURE,
    MeterReading,
    Reading,
    VehicleReading,
    min_reading_time,
    parse_timestamp,
)

Line = tuple[str, str, bytes]  # type, device id, binary COPY row (what the writers copy)
_id_pattern = re.compile(DEVICE_ID_PATTERN).fullmatch  # fullmatch: "$" would allow a final \n
_KNOWN_IDS: set[str] = set()  # ids that matched it: a fleet repeats its ids, and a lookup
# costs about a fifth of a match
_KNOWN_IDS_MAX = 262_144


def _new_id(value: str) -> bool:
    """Whether an id not known yet matches the pattern; remembered if it does."""
    if not _id_pattern(value):
        return False
    if len(_KNOWN_IDS) >= _KNOWN_IDS_MAX:
        _KNOWN_IDS.clear()
    _KNOWN_IDS.add(value)
    return True


def line_of(reading: Reading) -> Line:
    """The line of a reading the models validated."""
    return reading.type, reading.device_id, KINDS[reading.type].row_of(reading_row(reading))


def _bounds(model: type[MeterReading] | type[VehicleReading], field: str,
            lower: type[Ge] | type[Gt]) -> tuple[float, float]:
    """A number field's bounds, checked to be of the kinds the comparisons below assume."""
    found = {type(m): m for m in model.model_fields[field].metadata}
    if lower not in found or Le not in found or len(found) != 3:  # the third: AllowInfNan
        raise RuntimeError(f"{model.__name__}.{field} changed its bounds: update "
                           "processor/domain/fast_path.py to the model's new rules")
    return getattr(found[lower], lower.__name__.lower()), found[Le].le


def _fields(model: type[MeterReading] | type[VehicleReading], expected: set[str]) -> frozenset[str]:
    if set(model.model_fields) != expected:
        raise RuntimeError(f"{model.__name__} changed its fields: update "
                           "processor/domain/fast_path.py")
    return frozenset(expected)


METER_FIELDS = _fields(MeterReading, {"type", "timestamp", "meterId", "kwhConsumedAc", "voltage"})
VEHICLE_FIELDS = _fields(VehicleReading, {"type", "timestamp", "vehicleId", "soc",
                                          "kwhDeliveredDc", "batteryTemp", "meterId"})
KWH_AC = _bounds(MeterReading, "kwhConsumedAc", Ge)  # lo <= v <= hi
VOLTAGE = _bounds(MeterReading, "voltage", Gt)  # lo < v <= hi
SOC = _bounds(VehicleReading, "soc", Ge)
KWH_DC = _bounds(VehicleReading, "kwhDeliveredDc", Ge)
BATTERY_TEMP = _bounds(VehicleReading, "batteryTemp", Ge)


_END_OF_TIME = datetime.max.replace(tzinfo=UTC)  # no instant is ahead of it
_START_OF_TIME = datetime.min.replace(tzinfo=UTC)  # nor before it


def latest_ts(now: datetime) -> int:
    """The latest timestamp (as COPY's value, microseconds) a reading judged at ``now`` may
    have: MAX_FUTURE ahead. Computed once a message or request, compared as an integer."""
    return micros(now + MAX_FUTURE)


def earliest_ts(earliest: datetime | None = None) -> int:
    """The earliest timestamp (COPY's value) a reading may have: ``earliest``, by default this
    process's MIN_READING_TIME (``readings.set_min_reading_time``)."""
    return micros(min_reading_time() if earliest is None else earliest)


@lru_cache(maxsize=8192)
def _micros(value: str) -> int:
    """A timestamp's COPY value, parsed once (a fleet's readings share them); the future and
    floor checks are the caller's, per reading, so the cache never depends on the time."""
    return micros(parse_timestamp(value, _END_OF_TIME, _START_OF_TIME))


def _ts(value: Any, earliest: int, latest: int) -> int | None:
    """``parse_timestamp``'s rule (a zoned ISO-8601 string, not ahead of the time of judging by
    more than MAX_FUTURE: ``latest_ts``, not before the floor: ``earliest_ts``), the instant as
    COPY's value; None where the models must judge. In whole microseconds, as datetimes count,
    the comparisons are exact."""
    if type(value) is not str:
        return None
    try:
        ts = _micros(value)
    except ValueError:
        return None
    return None if ts > latest or ts < earliest else ts


def plain_meter(item: dict[str, Any], earliest: int, latest: int) -> Line | None:
    # Strict numbers: int or float, never bool (type(True) is bool). NaN fails every bound.
    meter, kwh, volts = item.get("meterId"), item.get("kwhConsumedAc"), item.get("voltage")
    if (not METER_FIELDS.issuperset(item) or item.get("type", "meter") != "meter"
            or type(meter) is not str or (meter not in _KNOWN_IDS and not _new_id(meter))
            or (type(kwh) is not float and type(kwh) is not int)
            or not KWH_AC[0] <= kwh <= KWH_AC[1]
            or (type(volts) is not float and type(volts) is not int)
            or not VOLTAGE[0] < volts <= VOLTAGE[1]):
        return None
    ts = _ts(item.get("timestamp"), earliest, latest)
    if ts is None:
        return None
    # meter_row, inlined: this runs once per reading (struct packs an int as a float8 too)
    return "meter", meter, meter_head(meter) + meter_values(8, ts, 8, kwh, 8, volts)


def plain_vehicle(item: dict[str, Any], earliest: int, latest: int) -> Line | None:
    vehicle, meter = item.get("vehicleId"), item.get("meterId")
    soc, kwh, temp = item.get("soc"), item.get("kwhDeliveredDc"), item.get("batteryTemp")
    if (not VEHICLE_FIELDS.issuperset(item) or item.get("type", "vehicle") != "vehicle"
            or type(vehicle) is not str or (vehicle not in _KNOWN_IDS and not _new_id(vehicle))
            or (meter is not None and (type(meter) is not str
                                       or (meter not in _KNOWN_IDS and not _new_id(meter))))
            or (type(soc) is not float and type(soc) is not int)
            or not SOC[0] <= soc <= SOC[1]
            or (type(kwh) is not float and type(kwh) is not int)
            or not KWH_DC[0] <= kwh <= KWH_DC[1]
            or (type(temp) is not float and type(temp) is not int)
            or not BATTERY_TEMP[0] <= temp <= BATTERY_TEMP[1]):
        return None
    ts = _ts(item.get("timestamp"), earliest, latest)
    if ts is None:
        return None
    return "vehicle", vehicle, (vehicle_head(vehicle) + vehicle_values(8, ts, 8, soc, 8, kwh,
                                                                       8, temp)
                                + link_field(meter))


PLAIN: dict[str, Callable[[dict[str, Any], int, int], Line | None]] = {
    "meter": plain_meter,
    "vehicle": plain_vehicle,
}
