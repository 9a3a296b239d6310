"""Support for the recovery tests: streams of readings and snapshots of what they left."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers import query

Snapshot = dict[str, list[tuple[Any, ...]]]


def stream(prefix: str, devices: int, minutes: int, start: datetime | None = None,
           seed: int = 7) -> list[dict[str, Any]]:
    """Time-ordered readings: ``devices`` meters and vehicles, one a minute each."""
    rng = random.Random(seed)
    start = start or datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=6)
    out = []
    for k in range(minutes):
        ts = (start + timedelta(minutes=k)).isoformat().replace("+00:00", "Z")
        for d in range(devices):
            out.append({"meterId": f"M{prefix}-{d}", "kwhConsumedAc": round(rng.random(), 4),
                        "voltage": 230.0, "timestamp": ts})
            out.append({"vehicleId": f"V{prefix}-{d}", "soc": round(rng.uniform(0, 100), 2),
                        "kwhDeliveredDc": round(rng.random() * 0.9, 4),
                        "batteryTemp": round(rng.uniform(20, 40), 1), "timestamp": ts,
                        "meterId": f"M{prefix}-{d}"})
    return out


def batches(readings: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [readings[i:i + size] for i in range(0, len(readings), size)]


def history_count(dsn: str, prefix: str) -> int:
    return sum(query(dsn, f"SELECT count(*) FROM {t}_history WHERE {t}_id LIKE %s",
                     (f"{t[0].upper()}{prefix}-%",))[0][0] for t in ("meter", "vehicle"))


def snapshot(dsn: str, prefix: str, rename: str | None = None) -> Snapshot:
    """History, live and rollups of a run's devices (optionally with the prefix renamed)."""
    tables = {
        "meter_history": ("meter_id", "meter_id, ts, kwh_consumed_ac, voltage"),
        "vehicle_history": ("vehicle_id", "vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, "
                                          "meter_id"),
        "meter_live": ("meter_id", "meter_id, ts, kwh_consumed_ac, voltage"),
        "vehicle_live": ("vehicle_id", "vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, "
                                       "meter_id"),
        "meter_hourly": ("meter_id", "meter_id, hour, round(kwh_consumed_ac::numeric, 9), "
                                     "readings"),
        "vehicle_hourly": ("vehicle_id", "vehicle_id, hour, round(kwh_delivered_dc::numeric, 9),"
                                         " round(battery_temp_sum::numeric, 6), "
                                         "battery_temp_count, readings"),
    }
    out: Snapshot = {}
    for table, (key, cols) in tables.items():
        letter = key[0].upper()
        rows = query(dsn, f"SELECT {cols} FROM {table} WHERE {key} LIKE %s ORDER BY 1, 2",
                     (f"{letter}{prefix}-%",))
        if rename is not None:
            rows = [tuple(_rename(v, prefix, rename) for v in row) for row in rows]
        out[table] = sorted(rows)
    return out


def _rename(value: Any, old: str, new: str) -> Any:
    return value.replace(old, new, 1) if isinstance(value, str) else value


def assert_exact(dsn: str, prefix: str, readings: list[dict[str, Any]]) -> None:
    """History holds each reading once; live is the newest per device; rollups equal the
    aggregate over the history."""
    snap = snapshot(dsn, prefix)
    meters = {(r["meterId"], r["timestamp"]) for r in readings if "vehicleId" not in r}
    vehicles = {(r["vehicleId"], r["timestamp"]) for r in readings if "vehicleId" in r}
    assert len(snap["meter_history"]) == len(meters)
    assert len(snap["vehicle_history"]) == len(vehicles)
    for kind in ("meter", "vehicle"):
        newest: dict[str, Any] = {}
        for row in snap[f"{kind}_history"]:
            if row[0] not in newest or row[1] > newest[row[0]][1]:
                newest[row[0]] = row
        assert sorted(newest.values()) == snap[f"{kind}_live"], f"{kind}_live"
    direct = query(dsn, "SELECT meter_id, date_trunc('hour', ts), "
                        "round(sum(kwh_consumed_ac)::numeric, 9), count(*) FROM meter_history "
                        "WHERE meter_id LIKE %s GROUP BY 1, 2 ORDER BY 1, 2", (f"M{prefix}-%",))
    assert _close(sorted(direct), snap["meter_hourly"]), "meter_hourly"
    direct = query(dsn, "SELECT vehicle_id, date_trunc('hour', ts), "
                        "round(sum(kwh_delivered_dc)::numeric, 9), "
                        "round(sum(battery_temp)::numeric, 6), count(battery_temp), count(*) "
                        "FROM vehicle_history WHERE vehicle_id LIKE %s GROUP BY 1, 2 "
                        "ORDER BY 1, 2", (f"V{prefix}-%",))
    assert _close(sorted(direct), snap["vehicle_hourly"]), "vehicle_hourly"


def _close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for va, vb in zip(ra, rb, strict=True):
            if isinstance(va, (int, float)) or hasattr(va, "as_tuple"):
                if abs(float(va) - float(vb)) > 1e-6:
                    return False
            elif va != vb:
                return False
    return True
