"""Link inference, as production runs it: the SQL function ``energy_device_suffix`` and the
figures query that picks the single meter sharing a vehicle's trailing identifier."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from db import efficiency_queries as queries
from db.batch_writes import connect
from processor.domain.efficiency import hour_buckets
from tests.conftest import Services
from tests.helpers import query

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("device", "suffix"), [
    ("V1", "1"), ("M1", "1"), ("V-201", "201"), ("M-201", "201"), ("EV_7", "7"),
    ("veh:42", "42"), ("V-0001", "0001"), ("123", None), ("V", None), ("V-", None),
])
def test_the_trailing_id_follows_the_device_type_prefix(services: Services, device: str,
                                                         suffix: str | None) -> None:
    assert query(services.dsn, "SELECT energy_device_suffix(%s)", (device,)) == [(suffix,)]


def test_a_vehicle_is_inferred_to_charge_on_the_single_meter_sharing_its_id(
        own_database: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    meters = ["M-201", "M-202", "M-301", "MTR-301"]  # 301 is ambiguous
    vehicles = ["V-201", "V-301", "V-9"]  # V-9 has no meter at all
    with psycopg.connect(own_database) as conn:
        conn.execute("INSERT INTO meter_live (meter_id, ts, kwh_consumed_ac, voltage, "
                     "updated_at) SELECT unnest(%s::text[]), %s, 0, 230, now()", (meters, now))
        conn.execute("INSERT INTO vehicle_live (vehicle_id, ts, soc, kwh_delivered_dc, "
                     "battery_temp, updated_at) SELECT unnest(%s::text[]), %s, 50, 0, 20, now()",
                     (vehicles, now))

    async def inferred(infer: bool) -> dict[str, tuple[str | None, str | None]]:
        conn = await connect(own_database)
        try:
            found = {}
            for vid in vehicles:
                rows = await queries.vehicle_figures(
                    conn, vid, hour_buckets(now - timedelta(hours=24), now), infer)
                assert rows is not None
                found[vid] = (rows[0][1].meter_id, rows[0][1].link)
            return found
        finally:
            await conn.close()

    assert asyncio.run(inferred(True)) == {"V-201": ("M-201", "inferred"),
                                           "V-301": (None, None), "V-9": (None, None)}
    assert asyncio.run(inferred(False)) == dict.fromkeys(vehicles, (None, None))
