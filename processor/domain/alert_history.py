"""Alert episodes from the events the leader published: when a vehicle crossed below the
threshold, and when it recovered (or its alert was closed because it went idle)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from processor.domain.efficiency import fmt_percent, iso

LOW, RECOVERED, UNJUDGED = "efficiency_low", "efficiency_recovered", "efficiency_unjudged"
ENDED_BY = {RECOVERED: "recovered", UNJUDGED: "idle"}


@dataclass(frozen=True)
class AlertEvent:
    vehicle_id: str
    type: str
    status: str
    efficiency: float | None
    threshold: float
    meter_id: str | None
    window_start: datetime
    window_end: datetime
    at: datetime

    def document(self) -> dict[str, Any]:
        return {"type": self.type, "vehicleId": self.vehicle_id, "meterId": self.meter_id,
                "status": self.status, "efficiencyRatio": self.efficiency,
                "efficiency": fmt_percent(self.efficiency), "threshold": self.threshold,
                "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
                "at": iso(self.at)}


def episodes(events: Sequence[AlertEvent]) -> list[dict[str, Any]]:
    """Each crossing with the event that ended it, newest crossing first. ``events``: any
    order. An end without its crossing (older than the events given) is left out; a crossing
    not ended yet has ``recoveredAt`` null."""
    open_at: dict[str, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for e in sorted(events, key=lambda e: e.at):
        if e.type == LOW:
            if e.vehicle_id in open_at:  # a repeated crossing (at-least-once): keep the first
                continue
            open_at[e.vehicle_id] = {
                "vehicleId": e.vehicle_id, "meterId": e.meter_id, "crossedAt": iso(e.at),
                "efficiencyRatio": e.efficiency, "efficiency": fmt_percent(e.efficiency),
                "threshold": e.threshold, "recoveredAt": None, "endedBy": None,
                "recoveredEfficiency": None}
        elif e.type in ENDED_BY and e.vehicle_id in open_at:
            episode = open_at.pop(e.vehicle_id)
            episode.update(recoveredAt=iso(e.at), endedBy=ENDED_BY[e.type],
                           recoveredEfficiency=fmt_percent(e.efficiency))
            done.append(episode)
    return sorted([*done, *open_at.values()], key=lambda ep: ep["crossedAt"], reverse=True)
