"""Efficiency alerts: one event on ``alerts.efficiency`` per crossing below the threshold.

The leader judges every vehicle's 24-hour efficiency on a timer, from the PostgreSQL rollups,
and remembers which side of the threshold each vehicle was on (``efficiency_alert_state``), so
a vehicle that stays low is reported once, not on every reading or evaluation. Each vehicle is
judged over its window up to the joint watermark of the vehicle and its meter (never a full
side against a partial one while the writers catch up); an idle vehicle is not judged (an
alert it had is closed: ``efficiency_unjudged``); a flagged one recovers only above the
threshold by ``ALERT_HYSTERESIS``. Events are sent
before the state is saved: a crash in between repeats an event rather than losing one
(at-least-once, like the rest of the pipeline; the key is the vehicle id).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from db import efficiency_queries as queries
from processor.domain.efficiency import (
    Figures,
    Rules,
    crossing,
    fmt_percent,
    iso,
    status,
    window,
    window_of,
)
from processor.kafka import topics
from processor.stream.checkpoint import TRANSIENT, timer_guarded
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

EVENT_TYPES = {"low": "efficiency_low", "recovered": "efficiency_recovered",
               "unjudged": "efficiency_unjudged"}
WORST_SHOWN = 5  # vehicles named in the log line of an evaluation


@dataclass(frozen=True)
class Judgement:
    events: list[tuple[str, dict[str, Any]]]  # (vehicle id, event)
    states: list[tuple[Any, ...]]  # rows for efficiency_alert_state
    counts: dict[str, int]  # vehicles per status
    flagged: list[tuple[str, float | None]]  # every flagged vehicle (and its figure, if judged)

    def summary(self, rules: Rules) -> str:
        """The evaluation in one log line: the counts, the events, the worst few vehicles."""
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        kinds = Counter(event["type"] for _vehicle, event in self.events)
        judged = [(vid, ratio) for vid, ratio in self.flagged if ratio is not None]
        worst = sorted(judged, key=lambda f: (f[1], f[0]))[:WORST_SHOWN]
        named = ", ".join(f"{vid} {fmt_percent(ratio)}" for vid, ratio in worst)
        return (f"efficiency alerts: {len(self.flagged)} flagged below "
                f"{fmt_percent(rules.threshold)} ({counts or 'no vehicles'}); "
                f"{kinds['efficiency_low']} new, {kinds['efficiency_recovered']} recovered, "
                f"{kinds['efficiency_unjudged']} closed as idle"
                + (f"; worst: {named}" if named else ""))


def judge(figures: list[Figures], flagged: dict[str, bool], rules: Rules,
          start: datetime, end: datetime, now: datetime) -> Judgement:
    """Events for the vehicles that crossed the threshold since last judged, and new states.

    Each vehicle is judged on its own window, cut at the joint watermark of the vehicle and its
    meter. A flagged vehicle whose window holds too little to judge (idle, no data) has its
    alert closed; one without a meter keeps its state."""
    events = []
    states = []
    counts: Counter[str] = Counter()
    still: list[tuple[str, float | None]] = []
    for fig in figures:
        state = status(fig, rules)
        counts[state] += 1
        was = bool(flagged.get(fig.vehicle_id))
        change = crossing(was, fig, rules)
        if change is None and state not in ("ok", "low_efficiency"):
            if was:  # nothing to judge (no meter): the alert stands
                still.append((fig.vehicle_id, None))
            continue
        ratio = fig.efficiency
        now_flagged = change == "low" or (was and change is None)
        if now_flagged:
            still.append((fig.vehicle_id, ratio))
        used = window_of(fig, start, end)
        if change is not None:
            events.append((fig.vehicle_id, {
                "type": EVENT_TYPES[change], "vehicleId": fig.vehicle_id,
                "meterId": fig.meter_id, "status": state, "efficiency": ratio,
                "efficiencyText": fmt_percent(ratio), "threshold": rules.threshold,
                "hysteresis": rules.hysteresis,
                "window": {"start": used["start"], "end": used["end"]}, "at": iso(now)}))
        states.append((fig.vehicle_id, now_flagged, ratio, rules.threshold, fig.meter_id,
                       start, fig.end_within(end)))
    return Judgement(events, states, dict(counts), still)


def register_alerts(p: Pipeline) -> None:
    settings = p.settings
    topic = p.app.topic(topics.ALERTS, key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")

    @p.app.timer(interval=settings.alert_interval_seconds, on_leader=True)
    @timer_guarded("efficiency alerts")
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
    began = time.monotonic()
    start, end = window(now)
    db = await queries.pool(p.dsn)
    async with db.connection() as conn:
        rows = await queries.fleet_figures(conn, start, end, settings.link_inference)
        flagged = await queries.alert_flags(conn)
    rules = settings.efficiency_rules
    result = judge([fig for fig, _live in rows], flagged, rules, start, end, now)
    pending = [await topic.send(key=vehicle.encode(),
                                value=json.dumps(event, separators=(",", ":")).encode())
               for vehicle, event in result.events]
    await asyncio.gather(*pending)
    async with db.connection() as conn, conn.transaction():
        await queries.save_alert_states(conn, result.states)
        await queries.save_alert_events(conn, [event for _vehicle, event in result.events])
    # One line per evaluation; each event is on alerts.efficiency, in /v1/alerts and in
    # /v1/alerts/history.
    log.log(logging.WARNING if result.events else logging.INFO, "%s (%d vehicles in %.1fs)",
            result.summary(rules), len(rows), time.monotonic() - began)
    return len(result.events)
