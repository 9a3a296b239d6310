"""``python -m benchmarks.min_charge [--devices N] [--hours H] [--standby-w W ...]``: how much
AC must a window hold before its efficiency is worth judging? (the choice of MIN_CHARGE_KWH)

Pure arithmetic over the simulator's fleet, no broker or database: minute by minute, each
vehicle's window is what the pipeline shows once both sides are written up to that minute (the
joint watermark), from the start of the run. For each candidate minimum it counts the healthy
vehicles that were ever below the threshold with at least that much AC (false alerts during the
run), and at the end the precision and recall of the flags against the fleet's ground truth.
A charger's standby draw (AC with no DC) is what makes small windows lie, so the sweep is run
for several standby powers.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

from producers.fleet import Fleet, minutes

THRESHOLD = 0.85
CANDIDATES = (0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


def sweep(devices: int, hours: float, standby_kwh_per_minute: float,
          candidates: tuple[float, ...] = CANDIDATES, seed: int = 42) -> list[dict[str, float]]:
    fleet = Fleet(devices, seed, standby_kwh=standby_kwh_per_minute)
    faulty = {vid for vid, _mid, _eff, bad in fleet.truth() if bad}
    ac: dict[str, float] = {}
    dc: dict[str, float] = {}
    false_ever: dict[float, set[str]] = {c: set() for c in candidates}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for at in minutes(start, start + timedelta(hours=hours)):
        readings = fleet.minute(at)
        for meter in readings:  # a meter's reading, then its vehicle's
            vehicle = next(readings)
            vid = vehicle["vehicleId"]
            a = ac[vid] = ac.get(vid, 0.0) + meter["kwhConsumedAc"]
            d = dc[vid] = dc.get(vid, 0.0) + vehicle["kwhDeliveredDc"]
            if vid not in faulty and a > 0 and d / a < THRESHOLD:
                for c in candidates:
                    if a >= c:
                        false_ever[c].add(vid)
    rows = []
    for c in candidates:
        judged = {vid for vid, a in ac.items() if a >= c}
        flagged = {vid for vid in judged if dc[vid] / ac[vid] < THRESHOLD}
        expected = faulty & judged
        rows.append({"min_charge_kwh": c, "idle": devices - len(judged),
                     "faulty_judged": len(expected), "flagged": len(flagged),
                     "precision": len(flagged & faulty) / len(flagged) if flagged else 1.0,
                     "recall": len(flagged & expected) / len(expected) if expected else 1.0,
                     "false_ever": len(false_ever[c])})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.min_charge", description=__doc__)
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--hours", type=float, nargs="+", default=[2.0, 24.0])
    p.add_argument("--standby-w", type=float, nargs="+", default=[6.0, 30.0],
                   help="a charger's standby power in watts (the simulator's is 6)")
    args = p.parse_args()
    print("| standby | hours | MIN_CHARGE_KWH | idle | faulty judged | flagged at the end | "
          "precision | recall | healthy vehicles ever flagged |")
    print("|---|---|---|---|---|---|---|---|---|")
    for watts in args.standby_w:
        for hours in args.hours:
            for row in sweep(args.devices, hours, watts / 60_000):
                print(f"| {watts:g} W | {hours:g} | {row['min_charge_kwh']:g} | {row['idle']} | "
                      f"{row['faulty_judged']} | {row['flagged']} | {row['precision']:.4f} | "
                      f"{row['recall']:.4f} | {row['false_ever']} |", flush=True)


if __name__ == "__main__":
    main()
