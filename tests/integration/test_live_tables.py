"""Live state from the Faust tables across workers: each device asked through two workers gets
the same answer, equal to PostgreSQL's, from the table of the worker owning its partition; once
one worker stops, the other answers for every device from its own tables."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from db.live_queries import live_query
from processor.domain.kinds import KINDS
from processor.web.live import live_document
from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import Worker, publish, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration


def ask(url: str) -> tuple[int, Any, str | None]:
    """(status, JSON, X-Live-Source) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read()), r.headers.get("X-Live-Source")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("X-Live-Source")


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
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        devices = {"meter": [f"M{run}-{i}" for i in range(12)],
                   "vehicle": [f"V{run}-{i}" for i in range(12)]}
        readings: list[Any] = []
        for k in range(3):
            ts = (at + timedelta(minutes=k)).isoformat()
            readings += [{"meterId": m, "kwhConsumedAc": 0.25 + k, "voltage": 230.5,
                          "timestamp": ts} for m in devices["meter"]]
            readings.append([{"vehicleId": v, "kwhDeliveredDc": 0.2 + k, "soc": 40 + k,
                              "batteryTemp": 31.5, "timestamp": ts}
                             for v in devices["vehicle"]])
        publish(own_broker, readings)
        everything = [(kind, d) for kind, ids in devices.items() for d in ids]

        def stored() -> bool:
            return all((doc := in_postgres(services.dsn, kind, d)) is not None
                       and doc["timestamp"].startswith((at + timedelta(minutes=2)).isoformat()[:16])
                       for kind, d in everything)

        wait_until(stored, what="every device's last reading in PostgreSQL")

        def same_everywhere(workers: list[Worker]) -> str | bool:
            for kind, device in everything:
                expected = in_postgres(services.dsn, kind, device)
                for w in workers:
                    status, body, source = ask(f"{w.direct_url}/v1/{kind}s/{device}/live")
                    if (status, body, source) != (200, expected, "table"):
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
