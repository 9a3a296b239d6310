"""`up --simulate` twice on one database: the second run replays hours the first stored, and
must repeat them exactly (silent duplicates), not contradict them (issue 30: the second
`make run` dead-lettered 288,069 readings as conflicting)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from processor.domain.dead_letters import CONFLICT
from producers.fleet import Fleet
from tests.helpers import query, read_topic, wait_until
from tests.integration.test_up import full_env, services_file, start_up

pytestmark = pytest.mark.integration
DEVICES = 3
HOURS = 0.5
# A message a minute (a meter and a vehicle reading per device): nothing waits for a batch.
SIMULATE = ("--simulate", "--devices", str(DEVICES), "--hours", str(HOURS),
            "--batch", str(2 * DEVICES))
REPLAYED = re.compile(r"simulate: replayed the past [\d.]+ h \((\d+) readings\)")
HISTORY = "SELECT (SELECT count(*) FROM meter_history) + (SELECT count(*) FROM vehicle_history)"


def history_rows(worker_url: str, at_least: int) -> dict[str, int] | None:
    """outcome -> rows, meters and vehicles together, from the worker's /metrics, once the
    writers judged ``at_least`` readings (None before, or while the worker starts)."""
    try:
        with urllib.request.urlopen(f"{worker_url}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    rows = {"inserted": 0, "duplicate": 0, "conflict": 0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "energy_history_rows_total":
                rows[sample.labels["outcome"]] += int(sample.value)
    return rows if sum(rows.values()) >= at_least else None


def replayed(log: Path) -> int:
    """The readings the simulator replayed, once it said so."""
    found = REPLAYED.search(log.read_text())
    return int(found.group(1)) if found else 0


def simulated(fleet: Fleet, at: datetime) -> dict[str, tuple[float, float]]:
    """device -> (kWh, voltage or state of charge): what the simulator makes for ``at``."""
    made = {}
    for r in fleet.minute(at):
        if r["type"] == "meter":
            made[r["meterId"]] = (r["kwhConsumedAc"], r["voltage"])
        else:
            made[r["vehicleId"]] = (r["kwhDeliveredDc"], r["soc"])
    return made


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log.read_text()[-3000:]


def test_up_simulate_twice_replays_the_stored_hours_as_duplicates(tmp_path: Path) -> None:
    proc, log = start_up(tmp_path, *SIMULATE)
    try:
        dsn = services_file(tmp_path)["dsn"]
        first = wait_until(lambda: replayed(log), timeout=90, what="the first replay")
        assert first >= 2 * DEVICES * HOURS * 60
        wait_until(lambda: query(dsn, HISTORY)[0][0] >= first, timeout=60,
                   what="the first replay in the history")
        stored = query(dsn, HISTORY)[0][0]
    finally:
        stop(proc, log)

    (tmp_path / "up.log").rename(tmp_path / "up-first.log")
    (tmp_path / "data" / "services.json").unlink()
    proc, log = start_up(tmp_path, *SIMULATE)  # the same DATA_DIR: the same database
    try:
        info = services_file(tmp_path)
        worker = f"http://127.0.0.1:{full_env(proc)['WORKER_PORT']}"
        second = wait_until(lambda: replayed(log), timeout=90, what="the second replay")
        rows = wait_until(lambda: history_rows(worker, second), timeout=60,
                          what="the second replay judged by the writers")
        letters = read_topic(info["bootstrap"], "telemetry.dlq",
                             lambda v: json.loads(v).get("reason") == CONFLICT, expected=0)
        history = query(dsn, "SELECT meter_id, ts, kwh_consumed_ac, voltage FROM meter_history "
                        "UNION ALL SELECT vehicle_id, ts, kwh_delivered_dc, soc "
                        "FROM vehicle_history")
    finally:
        stop(proc, log)

    assert rows is not None and rows["conflict"] == 0 and letters == []
    # The second run began within a minute or so of the first's end: nearly all of its
    # replayed half hour was stored already, and repeated as it was.
    assert rows["duplicate"] >= second - 2 * DEVICES * 3, rows
    assert rows["inserted"] <= 2 * DEVICES * 3, rows
    # One row per device and minute, each what the simulator makes for them.
    assert len(history) == len({(device, ts) for device, ts, _kwh, _other in history})
    assert len(history) >= stored + rows["inserted"]
    fleet = Fleet(DEVICES, seed=42)
    made = {ts: simulated(fleet, ts) for ts in {ts for _device, ts, _kwh, _other in history}}
    assert all(made[ts][device] == (kwh, other) for device, ts, kwh, other in history)
