"""Live state and recent hours from the Faust tables across workers: each device asked through
two workers gets the same answer, equal to PostgreSQL's, from the tables of the worker owning
its partition (a vehicle's hourly chart from its own and its meter's owner); once one worker
stops, the other answers for every device from its own tables."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from db.live_queries import live_query
from processor.domain.kinds import KINDS
from processor.web.live import live_document
from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import Worker, ask, publish, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration


def in_postgres(dsn: str, kind: str, device: str) -> dict[str, Any] | None:
    rows = query(dsn, live_query(KINDS[kind]), (device,))
    return live_document(KINDS[kind], rows[0]) if rows else None


def test_live_reads_come_from_the_owners_table_through_any_worker(
        services: Services, own_broker: str, tmp_path: Path) -> None:
    run = uid()
    env = {"TELEMETRY_PARTITIONS": str(PARTITIONS), "APP_ID": APP_ID}
    one = start_worker(own_broker, services.dsn, tmp_path, gateway=False, **env)
    two = start_worker(own_broker, services.dsn, tmp_path, gateway=False, **env)
    try:
        wait_until(lambda: sorted(one.owned_partitions() + two.owned_partitions())
                   == list(range(PARTITIONS)) and one.owned_partitions()
                   and two.owned_partitions(), what="the workers to split the partitions")
        now = datetime.now(UTC).replace(microsecond=0)
        first = now - timedelta(hours=5)
        devices = {"meter": [f"M{run}-{i}" for i in range(12)],
                   "vehicle": [f"V{run}-{i}" for i in range(12)]}
        readings: list[Any] = []
        for k in range(7):  # every 40 minutes, from five hours ago to an hour ago
            ts = (first + timedelta(minutes=40 * k)).isoformat()
            readings += [{"meterId": m, "kwhConsumedAc": 0.25 + k, "voltage": 230.5,
                          "timestamp": ts} for m in devices["meter"]]
            readings.append([{"vehicleId": v, "kwhDeliveredDc": 0.2 + k, "soc": 40 + k,
                              "batteryTemp": 31.5, "timestamp": ts, "meterId": f"M{run}-{i}"}
                             for i, v in enumerate(devices["vehicle"])])
        publish(own_broker, readings)
        everything = [(kind, d) for kind, ids in devices.items() for d in ids]
        last = (first + timedelta(minutes=240)).isoformat()[:16]

        def stored() -> bool:
            return all((doc := in_postgres(services.dsn, kind, d)) is not None
                       and doc["timestamp"].startswith(last) for kind, d in everything)

        wait_until(stored, what="every device's last reading in PostgreSQL")

        def same_everywhere(workers: list[Worker]) -> str | bool:
            for kind, device in everything:
                expected = in_postgres(services.dsn, kind, device)
                hours = ask(f"{workers[0].direct_url}/v1/{kind}s/{device}/hours",
                            {"X-Live-Source": "postgresql"})
                assert len(hours[1]["hours"]) == 5  # the five hours of its seven readings
                for w in workers:
                    status, body, source = ask(f"{w.direct_url}/v1/{kind}s/{device}/live")
                    if (status, body, source) != (200, expected, "table"):
                        return False
                    if ask(f"{w.direct_url}/v1/{kind}s/{device}/hours") != (*hours[:2], "table"):
                        return False
            for vehicle in devices["vehicle"]:
                chart = f"/v1/analytics/performance/{vehicle}/hourly?at={now.isoformat()}"
                expected = ask(f"{workers[0].direct_url}{chart}", {"X-Live-Source": "postgresql"})
                assert sum(h["dcKwh"] for h in expected[1]["hours"]) > 0
                for w in workers:
                    if ask(f"{w.direct_url}{chart}") != (*expected[:2], "table"):
                        return False
            return True

        # The tables are written right after PostgreSQL's commit: equal almost at once.
        wait_until(lambda: same_everywhere([one, two]), timeout=20,
                   what="both workers to answer every device from the owner's table")
        status, body, source = ask(f"{one.direct_url}/v1/meters/M{run}-none/live")
        assert (status, source) == (404, "postgresql") and "unknown meter" in body["error"]

        assert one.stop(signal.SIGTERM) == 0
        wait_until(lambda: two.owned_partitions() == list(range(PARTITIONS)),
                   what="the survivor to own every partition")
        wait_until(lambda: same_everywhere([two]), timeout=30,
                   what="the survivor to answer every device from its tables")
    finally:
        one.stop()
        two.stop()
