"""The hourly chart's recent hours from the Faust hourly tables, pure: which hours the tables
surely hold, and a bucket's figures with the tables' totals added.

The writers set a device-hour's table value to the rollup row their statement returned
(``processor/domain/table_entries.py``), so from the first hour the tables surely hold on,
the table and the rollup are the same numbers. ``db/efficiency_queries.py`` leaves those
hours out of its sums and names them per bucket (``TablePieces``); ``with_table_hours`` adds
them back from the tables. A bucket of the chart is one hour, and only a bucket covered
whole by the vehicle (or by one link period of its meter) has such hours, so what SQL summed
for it is nothing and the table's value is the figure itself: the answer is the rollups',
float for float.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from processor.domain.efficiency import Figures

HOUR = timedelta(hours=1)
# How long after a request its first table hour is still kept: longer than any request takes.
MARGIN = timedelta(minutes=10)
Hours = Mapping[datetime, Mapping[str, Any]]  # hour -> the hourly table's value


@dataclass(frozen=True)
class TablePieces:
    """The whole hours of one bucket that the hourly tables hold instead of the rollups: the
    vehicle's ``[from, to)``, and ``(meter, from, to)`` per link segment of the bucket."""
    vehicle: tuple[datetime, datetime] | None
    meters: tuple[tuple[str, datetime, datetime], ...]


def tables_from(window_hours: int, now: datetime) -> datetime:
    """The first whole hour the hourly tables surely hold: the expiry timer drops the hours
    that started before its ``now - window_hours``, so the first whole hour after that instant
    (``MARGIN`` later) stays while a request reads it."""
    start = now - timedelta(hours=window_hours) + MARGIN
    return start.replace(minute=0, second=0, microsecond=0) + HOUR


def hours(lo: datetime, hi: datetime) -> Iterator[datetime]:
    """The hour starts in ``[lo, hi)``; ``lo`` is a whole hour."""
    while lo < hi:
        yield lo
        lo += HOUR


def with_table_hours(fig: Figures, pieces: TablePieces, vehicle: Hours,
                     meters: Mapping[str, Hours]) -> Figures:
    """``fig`` with the totals of its bucket's table hours added: the vehicle's from
    ``vehicle``, each link segment's meter's from ``meters[meter_id]`` (an hour missing from
    a table had no reading)."""
    dc, temp_sum, temp_count, vehicle_n = fig.dc_kwh, fig.temp_sum, fig.temp_count, \
        fig.vehicle_readings
    if pieces.vehicle is not None:
        for hour in hours(*pieces.vehicle):
            value = vehicle.get(hour)
            if value is not None:
                dc += value["kwhDeliveredDc"]
                temp_sum += value["batteryTempSum"]
                temp_count += value["batteryTempCount"]
                vehicle_n += value["readings"]
    ac, meter_n = fig.ac_kwh, fig.meter_readings
    for meter_id, lo, hi in pieces.meters:
        meter = meters.get(meter_id, {})
        for hour in hours(lo, hi):
            value = meter.get(hour)
            if value is not None:
                ac += value["kwhConsumedAc"]
                meter_n += value["readings"]
    return dataclasses.replace(fig, ac_kwh=ac, dc_kwh=dc, temp_sum=temp_sum,
                               temp_count=temp_count, meter_readings=meter_n,
                               vehicle_readings=vehicle_n)
