"""The 24-hour efficiency figure: windows, arithmetic, formatting, status and alert crossings.

Pure functions over plain data, so the rules are tested without a broker or a database.
``db/efficiency_queries.py`` gathers the sums (and infers a vehicle's meter where no link was
made: the SQL function ``energy_device_suffix``); this module turns them into the seed's
response shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

WINDOW = timedelta(hours=24)
PERIOD = "24 hours"  # the seed's "period" field

Status = Literal["ok", "low_efficiency", "no_meter_linked", "no_data"]
Crossing = Literal["low", "recovered"]

def window(at: datetime | None = None) -> tuple[datetime, datetime]:
    """The 24 hours up to ``at`` (default now), half-open: [start, end)."""
    end = (at or datetime.now(UTC)).astimezone(UTC)
    return end - WINDOW, end


def parse_at(value: str | None) -> datetime | None:
    """``?at=`` as an aware datetime; naive values are read as UTC. Raises ValueError."""
    if value is None or value == "":
        return None
    ts = datetime.fromisoformat(value.strip().replace(" ", "+"))  # '+' arrives as ' ' in URLs
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def hour_buckets(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The window cut at whole UTC hours: the hourly chart, whose bars sum to the 24 h total."""
    buckets = []
    lo = start
    while lo < end:
        hi = min(end, lo.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
        buckets.append((lo, hi))
        lo = hi
    return buckets


def efficiency(ac_kwh: float, dc_kwh: float) -> float | None:
    """DC stored per AC drawn; undefined when no AC was drawn."""
    return dc_kwh / ac_kwh if ac_kwh > 0 else None


def fmt2(value: float) -> str:
    """The seed's number format: two decimals, as JavaScript's ``toFixed(2)``.

    Sums over rollups and over the history add the same numbers in another order and can differ
    in the 15th digit; rounding to 9 decimals first keeps that from flipping the 2nd at a .xx5.
    """
    return f"{round(value, 9) + 0.0:.2f}"  # + 0.0 turns -0.0 into 0.0


def fmt_percent(ratio: float | None) -> str:
    """``0.809523`` -> ``"80.95%"``; ``"N/A"`` when efficiency is undefined."""
    return "N/A" if ratio is None else f"{fmt2(ratio * 100)}%"


def status(meter_id: str | None, ratio: float | None, threshold: float) -> Status:
    if meter_id is None:
        return "no_meter_linked"
    if ratio is None:
        return "no_data"
    return "low_efficiency" if ratio < threshold else "ok"


def crossing(was_flagged: bool | None, ratio: float | None, threshold: float) -> Crossing | None:
    """An alert fires once when efficiency falls below the threshold, not on every evaluation;
    a recovery once when it is back at or above it. No figure (no data) changes nothing."""
    if ratio is None:
        return None
    if ratio < threshold and not was_flagged:
        return "low"
    if ratio >= threshold and was_flagged:
        return "recovered"
    return None


@dataclass(frozen=True)
class Figures:
    """One vehicle's sums over one window, as ``db/efficiency_queries.py`` returns them."""

    vehicle_id: str
    meter_id: str | None
    link: str | None  # "explicit" / "inferred" / None
    ac_kwh: float
    dc_kwh: float
    temp_sum: float
    temp_count: int
    meter_readings: int
    vehicle_readings: int

    @property
    def efficiency(self) -> float | None:
        return efficiency(self.ac_kwh, self.dc_kwh)

    @property
    def average_temp(self) -> float | None:
        return self.temp_sum / self.temp_count if self.temp_count else None


def performance(fig: Figures, start: datetime, end: datetime, threshold: float) -> dict[str, Any]:
    """The seed's response, to the letter, plus meter, link, window and status."""
    ratio = fig.efficiency
    temp = fig.average_temp
    return {
        "vehicleId": fig.vehicle_id,
        "period": PERIOD,
        "metrics": {
            "totalAcConsumed": fmt2(fig.ac_kwh),
            "totalDcDelivered": fmt2(fig.dc_kwh),
            "efficiency": fmt_percent(ratio),
            "averageBatteryTemp": fmt2(temp) if temp is not None else "N/A",
        },
        "meterId": fig.meter_id,
        "link": fig.link,
        "window": {"start": iso(start), "end": iso(end)},
        "status": status(fig.meter_id, ratio, threshold),
        "threshold": threshold,
        "readings": {"meter": fig.meter_readings, "vehicle": fig.vehicle_readings},
    }


def sort_worst_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lowest efficiency first; vehicles without a figure after every vehicle with one."""
    def key(row: dict[str, Any]) -> tuple[int, float, str]:
        ratio = row.get("efficiencyRatio")
        return (ratio is None, ratio if ratio is not None else 0.0, row["vehicleId"])
    return sorted(rows, key=key)


def iso(ts: datetime) -> str:
    """UTC, written with ``Z`` like the seed's timestamps."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
