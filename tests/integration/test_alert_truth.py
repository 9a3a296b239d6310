"""Efficiency alerts against the simulator's ground truth, on the real broker and PostgreSQL.

A fleet's last two hours are published as a backlog of single-reading messages while the
worker judges every second. The alerts must name exactly the vehicles the simulator made faulty
that charged enough to be judged, none other at any moment of the backfill, and each once;
the parked ones read ``idle``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from processor.kafka.topics import ALERTS
from producers.fleet import read_truth
from producers.simulate import SimulateOptions, simulate
from tests.conftest import APP_ID, PARTITIONS
from tests.helpers import http_json, query, read_topic, start_worker, wait_until

pytestmark = pytest.mark.integration
DEVICES = 400
HOURS = 2
MIN_CHARGE_KWH = 2.0  # the default, said here so the expectation below does not drift


def test_alerts_hold_exactly_the_faulty_vehicles_that_charged_enough(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    worker = start_worker(own_broker, own_database, tmp_path,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID,
                          ALERT_INTERVAL_SECONDS="1", MIN_CHARGE_KWH=str(MIN_CHARGE_KWH))
    try:
        truth_file = tmp_path / "truth.csv"
        opts = SimulateOptions(devices=DEVICES, hours=HOURS, minutes=HOURS * 60, batch=1,
                               seed=42, truth=truth_file)
        with open(os.devnull, "w") as quiet:
            sent = simulate(own_broker, opts, out=quiet)
        assert sent >= DEVICES * HOURS * 60 * 2
        wait_until(lambda: query(own_database, "SELECT (SELECT count(*) FROM meter_history) + "
                                 "(SELECT count(*) FROM vehicle_history)")[0][0] == sent,
                   timeout=240, interval=1, what="the backlog in the history")
        drained = datetime.now(UTC)
        wait_until(lambda: query(own_database, "SELECT count(*) FROM efficiency_alert_state "
                                 "WHERE evaluated_at > %s", (drained,))[0][0] > 0,
                   timeout=60, what="an evaluation after the backlog")

        faulty = {vid for vid, bad in read_truth(truth_file).items() if bad}
        ac = dict(query(own_database, "SELECT meter_id, sum(kwh_consumed_ac) FROM "
                        "meter_history GROUP BY meter_id"))
        charged = {"V" + mid[1:] for mid, kwh in ac.items() if kwh >= MIN_CHARGE_KWH}
        expected = faulty & charged
        assert 5 <= len(expected) < len(faulty) + 1  # about one in twenty, most charged

        alerts = http_json(f"{worker.url}/v1/alerts")[1]["alerts"]
        assert {a["vehicleId"] for a in alerts} == expected

        events = read_topic(own_broker, ALERTS, lambda v: True, expected=len(expected),
                            timeout=30)
        raised = [e["vehicleId"] for e in events if e["type"] == "efficiency_low"]
        assert set(raised) == expected  # no vehicle outside the truth, ever
        assert len(raised) == len(set(raised))  # and none twice
        assert [e for e in events if e["type"] != "efficiency_low"] == []  # no flapping

        fleet = http_json(f"{worker.url}/v1/analytics/fleet?maxAge=0")[1]
        status = {v["vehicleId"]: v["status"] for v in fleet["vehicles"]}
        assert {v for v, s in status.items() if s == "low_efficiency"} == expected
        idle = {v for v, s in status.items() if s == "idle"}
        assert idle == {f"V{m[1:]}" for m, kwh in ac.items() if kwh < MIN_CHARGE_KWH}
        assert idle and fleet["statusCounts"]["idle"] == len(idle)
    finally:
        worker.stop()
