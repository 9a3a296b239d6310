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

Status = Literal["ok", "low_efficiency", "idle", "no_meter_linked", "no_data"]
Crossing = Literal["low", "recovered", "unjudged"]


@dataclass(frozen=True)
class Rules:
    """How a figure is judged: the threshold, the least AC worth judging, the recovery margin.

    Below ``min_charge_kwh`` of AC in the window a vehicle is ``idle``: a parked car's charger
    draws a little standby power and delivers nothing, and a figure over so little energy says
    nothing about the hardware. A flagged vehicle recovers only at ``threshold + hysteresis``,
    so one hovering at the threshold is not reported again and again.
    """

    threshold: float = 0.85
    min_charge_kwh: float = 2.0
    hysteresis: float = 0.01

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


def hour_efficiency(ac_kwh: float, dc_kwh: float, rules: Rules) -> float | None:
    """One hour's efficiency, or None when it charged too little to say: less AC than
    MIN_CHARGE_KWH spread over the day's 24 hours. A parked car's hour (a charger's standby of a
    few watts, no DC) has no efficiency, not 0%: the chart shows a gap there."""
    return efficiency(ac_kwh, dc_kwh) if ac_kwh >= rules.min_charge_kwh / 24 else None


def fmt2(value: float) -> str:
    """The seed's number format: two decimals, as JavaScript's ``toFixed(2)``.

    Sums over rollups and over the history add the same numbers in another order and can differ
    in the 15th digit; rounding to 9 decimals first keeps that from flipping the 2nd at a .xx5.
    """
    return f"{round(value, 9) + 0.0:.2f}"  # + 0.0 turns -0.0 into 0.0


def fmt_percent(ratio: float | None) -> str:
    """``0.809523`` -> ``"80.95%"``; ``"N/A"`` when efficiency is undefined."""
    return "N/A" if ratio is None else f"{fmt2(ratio * 100)}%"


def status(fig: Figures, rules: Rules) -> Status:
    """A vehicle's status over its window."""
    if fig.meter_id is None:
        return "no_meter_linked"
    if fig.meter_readings == 0 and fig.vehicle_readings == 0:
        return "no_data"
    ratio = fig.efficiency
    if fig.ac_kwh < rules.min_charge_kwh or ratio is None:
        return "idle"
    return "low_efficiency" if ratio < rules.threshold else "ok"


def judged(fig: Figures, rules: Rules) -> tuple[Status, str]:
    """A vehicle's status, and why, in words for the fleet manager."""
    state = status(fig, rules)
    threshold = fmt_percent(rules.threshold)
    reasons = {
        "no_meter_linked": "no meter is linked to this vehicle, and none can be inferred",
        "no_data": "no reading of the vehicle or its meter in the window",
        "idle": (f"{fmt2(fig.ac_kwh)} kWh of AC drawn, below the {rules.min_charge_kwh:g} kWh "
                 "needed to judge efficiency (MIN_CHARGE_KWH)"),
        "low_efficiency": f"{fmt_percent(fig.efficiency)} is below the {threshold} threshold",
        "ok": f"{fmt_percent(fig.efficiency)} is at or above the {threshold} threshold",
    }
    return state, reasons[state]


def crossing(was_flagged: bool | None, fig: Figures, rules: Rules) -> Crossing | None:
    """An alert fires once when a judged efficiency falls below the threshold, not on every
    evaluation; a recovery once when it is back above the threshold by the hysteresis margin.
    A flagged vehicle whose window no longer holds enough to judge (idle, no data) is closed
    once as ``unjudged``: an active alert always rests on the current window. Otherwise a
    window with nothing to judge changes nothing."""
    state = status(fig, rules)
    ratio = fig.efficiency
    if state in ("idle", "no_data"):
        return "unjudged" if was_flagged else None
    if state == "no_meter_linked" or ratio is None:
        return None
    if ratio < rules.threshold and not was_flagged:
        return "low"
    if ratio >= rules.threshold + rules.hysteresis and was_flagged:
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
    # The end of the interval summed, cut at the pair's joint watermark (the older of the last
    # written reading of the vehicle and of its meter), and those two readings' timestamps.
    end: datetime | None = None
    vehicle_ts: datetime | None = None
    meter_ts: datetime | None = None

    def end_within(self, end: datetime) -> datetime:
        """Where the interval summed ends: at the joint watermark, never past ``end``."""
        return min(self.end, end) if self.end is not None else end

    @property
    def efficiency(self) -> float | None:
        return efficiency(self.ac_kwh, self.dc_kwh)

    @property
    def average_temp(self) -> float | None:
        return self.temp_sum / self.temp_count if self.temp_count else None


def limited_by(fig: Figures, end: datetime) -> str | None:
    """Which side's watermark ended the window before ``end``: "meter", "vehicle" or None."""
    if fig.end is None or fig.end >= end or fig.vehicle_ts is None or fig.meter_ts is None:
        return None
    return "meter" if fig.meter_ts <= fig.vehicle_ts else "vehicle"


def window_of(fig: Figures, start: datetime, end: datetime) -> dict[str, Any]:
    """The window a figure covers: from ``start`` to the joint watermark, never past ``end``."""
    return {"start": iso(start), "end": iso(fig.end_within(end)), "requestedEnd": iso(end),
            "limitedBy": limited_by(fig, end)}


def performance(fig: Figures, start: datetime, end: datetime, rules: Rules) -> dict[str, Any]:
    """The seed's response, to the letter, plus meter, link, window, status and its reason."""
    ratio = fig.efficiency
    temp = fig.average_temp
    state, reason = judged(fig, rules)
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
        "window": window_of(fig, start, end),
        "status": state,
        "statusReason": reason,
        "threshold": rules.threshold,
        "minChargeKwh": rules.min_charge_kwh,
        "readings": {"meter": fig.meter_readings, "vehicle": fig.vehicle_readings},
    }


# Judged vehicles first, the flagged ones on top; then those with no figure worth judging.
STATUS_ORDER = {"low_efficiency": 0, "ok": 1, "idle": 2, "no_data": 3, "no_meter_linked": 4}


def sort_worst_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Low efficiency first, then ok, each lowest efficiency first; then idle vehicles (a
    parked car's 0% is not the fleet's worst), then those without a figure."""
    def key(row: dict[str, Any]) -> tuple[int, bool, float, str]:
        ratio = row.get("efficiencyRatio")
        return (STATUS_ORDER.get(row.get("status", ""), 1), ratio is None,
                ratio if ratio is not None else 0.0, row["vehicleId"])
    return sorted(rows, key=key)


def iso(ts: datetime) -> str:
    """UTC, written with ``Z`` like the seed's timestamps."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
