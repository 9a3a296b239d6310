"""A record the consumer holds and its agent never gets is fetched again by the worker itself:
the writer is made to lose the first record it is handed (FAULT_LOSE_FIRST, as Faust's consumer
now and then does), and the reading still reaches PostgreSQL, once, without the worker exiting.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import APP_ID, PARTITIONS
from tests.helpers import http_json, publish, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration


def test_a_record_lost_on_the_way_to_an_idle_writer_is_fetched_again(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    meter = f"ML{uid()}"
    env = {"TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID,
           "FAULT_LOSE_FIRST": "meter_writer"}
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False, **env)
    try:
        publish(own_broker, [{"meterId": meter, "kwhConsumedAc": 1.5, "voltage": 230.0,
                              "timestamp": "2026-01-05T00:00:00Z"}])
        wait_until(lambda: query(own_database, "SELECT count(*) FROM meter_history WHERE "
                                 "meter_id = %s", (meter,))[0][0] == 1,
                   timeout=60, what="the lost reading to be fetched again and stored")
        assert worker.proc.poll() is None  # healed in place: no exit, no restart
        log = worker.log()
        assert "FAULT_LOSE_FIRST loses telemetry.meter" in log
        assert re.search(r"meter_writer: telemetry\.meter p\d+ has records from offset \d+ on "
                         r".* fetching them again", log), log[-3000:]
        status, metrics = http_json(f"{worker.direct_url}/metrics")
        assert status == 200
        assert re.search(r'energy_redelivered_partitions_total\{topic="telemetry.meter"\} 1\.0',
                         metrics), metrics
        assert "stalled" not in log
    finally:
        worker.stop()
