"""One vehicle's window sums, as the efficiency queries return them, for the unit tests."""

from __future__ import annotations

from datetime import datetime

from processor.domain.efficiency import Figures


def figures(vid: str = "V1", meter: str | None = "M1", ac: float = 10.5, dc: float = 8.5,
            temp_sum: float = 32.0, temp_n: int = 1, readings: int = 1,
            end: datetime | None = None, vehicle_ts: datetime | None = None,
            meter_ts: datetime | None = None) -> Figures:
    return Figures(vid, meter, "inferred" if meter else None, ac, dc, temp_sum, temp_n,
                   readings, readings, end, vehicle_ts, meter_ts)
