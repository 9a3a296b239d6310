"""Efficiency alerts scored against the simulator's ground truth (issue 19), in the backfill run.

The backfill publishes a ``producers.fleet.Fleet``'s last hours; ``Fleet.truth`` says which of
its vehicles were made faulty. After the backlog is stored and the worker has judged the fleet
twice more, this reads every event ever published on ``alerts.efficiency`` and the active alerts
(``efficiency_alert_state``), and reports:

- precision: the share of active alerts that are faulty vehicles;
- recall: the share of the faulty vehicles that charged ``MIN_CHARGE_KWH`` of AC in the 24 hours
  (summed straight from ``meter_history``) that are alerted;
- false alerts during the backfill: ``efficiency_low`` events for vehicles that are not faulty,
  vehicles alerted more than once, and recoveries (none is expected: a faulty vehicle stays
  below the threshold).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from benchmarks.env import Scenario, log
from processor.kafka.security import client_config
from processor.kafka.topics import ALERTS
from producers.fleet import Fleet

EVALUATIONS_AFTER = 2  # judged this many times after the backlog was stored, then scored
# The worker's ALERT_INTERVAL_SECONDS in the backfill (the default is 60): judged this often
# while the backlog is worked off, so a false alert has many chances to show.
INTERVAL = 15


def events(bootstrap: str) -> list[dict[str, Any]]:
    """Every record on ``alerts.efficiency``, from the beginning to the end offsets now."""
    consumer = Consumer(client_config(bootstrap, **{
        "group.id": f"score-{time.time_ns()}", "enable.auto.commit": False}))
    try:
        meta = consumer.list_topics(ALERTS, timeout=10).topics[ALERTS]
        ends = {p: consumer.get_watermark_offsets(TopicPartition(ALERTS, p), timeout=10)[1]
                for p in meta.partitions}
        todo = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(ALERTS, p, 0) for p in todo])
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while todo and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            found.append(json.loads(msg.value() or b"null"))
            if (msg.offset() or 0) + 1 >= ends[msg.partition()]:
                todo.discard(msg.partition())
        if todo:
            raise TimeoutError(f"alerts: partitions {sorted(todo)} not read to their end")
        return found
    finally:
        consumer.close()


def wait_for_evaluations(sc: Scenario, since: datetime, count: int, timeout: float) -> None:
    """Until the alert timer has saved ``count`` evaluations that began after ``since``."""
    seen: list[datetime] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count + 1:  # the first one seen may have begun before ``since``
        if time.monotonic() > deadline:
            raise TimeoutError(f"alerts: {len(seen)} evaluations in {timeout:.0f}s")
        latest = sc.query("SELECT max(evaluated_at) FROM efficiency_alert_state")[0][0]
        if latest is not None and latest > since and (not seen or latest > seen[-1]):
            seen.append(latest)
        time.sleep(0.5)


def score(sc: Scenario, devices: int, min_charge_kwh: float, interval: float,
          result: dict[str, Any]) -> None:
    """Add ``result["alerts"]``: precision, recall and the false alerts of the backfill."""
    wait_for_evaluations(sc, datetime.now(UTC), EVALUATIONS_AFTER,
                         timeout=EVALUATIONS_AFTER * interval + 120)
    faulty = {vid for vid, _mid, _eff, bad in Fleet(devices, seed=42).truth() if bad}
    ac = dict(sc.query("SELECT meter_id, sum(kwh_consumed_ac) FROM meter_history "
                       "WHERE ts > now() - interval '24 hours' GROUP BY meter_id"))
    charged = {"V" + mid[1:] for mid, kwh in ac.items() if kwh >= min_charge_kwh}
    expected = faulty & charged
    active = {row[0] for row in sc.query(
        "SELECT vehicle_id FROM efficiency_alert_state WHERE flagged")}
    published = events(sc.bootstrap)
    lows = Counter(e["vehicleId"] for e in published if e["type"] == "efficiency_low")
    recoveries = sum(1 for e in published if e["type"] == "efficiency_recovered")
    false_events = sum(n for vid, n in lows.items() if vid not in faulty)
    result["alerts"] = {
        "vehicles": devices, "faulty": len(faulty), "faulty_charged": len(expected),
        "idle": devices - len(charged), "min_charge_kwh": min_charge_kwh,
        "active": len(active),
        "precision": round(len(active & faulty) / len(active), 4) if active else None,
        "recall": round(len(active & expected) / len(expected), 4) if expected else None,
        "missed": sorted(expected - active)[:10], "wrong": sorted(active - faulty)[:10],
        "events_low": sum(lows.values()), "events_recovered": recoveries,
        "false_alert_events": false_events,
        "false_alert_vehicles": sum(1 for vid in lows if vid not in faulty),
        "alerted_twice": sum(1 for n in lows.values() if n > 1),
    }
    a = result["alerts"]
    log(f"alerts: {a['active']} active of {a['faulty_charged']} faulty vehicles that charged "
        f"(of {a['faulty']} faulty, {a['idle']} idle): precision {a['precision']}, recall "
        f"{a['recall']}; during the backfill {a['events_low']} low events, "
        f"{a['false_alert_events']} false, {a['alerted_twice']} vehicles twice, "
        f"{a['events_recovered']} recoveries")
