"""Efficiency alerts: one event on ``alerts.efficiency`` per crossing below the threshold.

The leader judges every vehicle's 24-hour efficiency on a timer, from the PostgreSQL rollups,
and remembers which side of the threshold each vehicle was on (``efficiency_alert_state``), so
a vehicle that stays low is reported once, not on every reading or evaluation. Events are sent
before the state is saved: a crash in between repeats an event rather than losing one
(at-least-once, like the rest of the pipeline; the key is the vehicle id).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from db import efficiency_queries as queries
from processor.domain.efficiency import Figures, crossing, fmt_percent, iso, window
from processor.kafka import topics
from processor.stream.checkpoint import TRANSIENT, guarded
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

EVENT_TYPES = {"low": "efficiency_low", "recovered": "efficiency_recovered"}


@dataclass(frozen=True)
class Judgement:
    events: list[tuple[str, dict[str, Any]]]  # (vehicle id, event)
    states: list[tuple[Any, ...]]  # rows for efficiency_alert_state


def judge(figures: list[Figures], flagged: dict[str, bool], threshold: float,
          start: datetime, end: datetime, now: datetime) -> Judgement:
    """Events for the vehicles that crossed the threshold since last judged, and new states."""
    events = []
    states = []
    for fig in figures:
        ratio = fig.efficiency
        if ratio is None or fig.meter_id is None:
            continue  # no figure: nothing to judge, the previous state stands
        change = crossing(flagged.get(fig.vehicle_id), ratio, threshold)
        if change is not None:
            events.append((fig.vehicle_id, {
                "type": EVENT_TYPES[change], "vehicleId": fig.vehicle_id,
                "meterId": fig.meter_id, "efficiency": ratio,
                "efficiencyText": fmt_percent(ratio), "threshold": threshold,
                "window": {"start": iso(start), "end": iso(end)}, "at": iso(now)}))
        states.append((fig.vehicle_id, ratio < threshold, ratio, threshold, fig.meter_id,
                       start, end))
    return Judgement(events, states)


def register_alerts(p: Pipeline) -> None:
    settings = p.settings
    topic = p.app.topic(topics.ALERTS, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")

    @p.app.timer(interval=settings.alert_interval_seconds, on_leader=True)
    @guarded("efficiency alerts")
    async def judge_efficiency() -> None:
        try:
            await evaluate(p, topic)
        except TRANSIENT as exc:  # the database or broker is away: the next tick tries again
            log.warning("efficiency alerts: evaluation failed (%s: %s); retrying in %.0fs",
                        type(exc).__name__, exc, settings.alert_interval_seconds)


async def evaluate(p: Pipeline, topic: Any) -> int:
    """One evaluation; returns the number of events published."""
    settings = p.settings
    now = datetime.now(UTC)
    start, end = window(now)
    db = await queries.pool(p.dsn)
    async with db.connection() as conn:
        rows = await queries.fleet_figures(conn, start, end, settings.link_inference)
        flagged = await queries.alert_flags(conn)
    result = judge([fig for fig, _live in rows], flagged, settings.efficiency_threshold,
                   start, end, now)
    pending = [await topic.send(key=vehicle.encode(),
                                value=json.dumps(event, separators=(",", ":")).encode())
               for vehicle, event in result.events]
    await asyncio.gather(*pending)
    async with db.connection() as conn:
        await queries.save_alert_states(conn, result.states)
    for _vehicle, event in result.events:
        log.warning("efficiency alert: %s %s at %s (threshold %s)", event["vehicleId"],
                    event["type"], event["efficiencyText"], fmt_percent(event["threshold"]))
    return len(result.events)
