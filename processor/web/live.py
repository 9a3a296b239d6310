"""``GET /v1/vehicles/{id}/live`` and ``GET /v1/meters/{id}/live``: the hot store.

Read from PostgreSQL (meter_live / vehicle_live), the durable truth for live state, so any
worker answers for any device, whichever partitions it owns.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from faust.web import Request, Response, View
from psycopg_pool import PoolTimeout

from processor.analytics import iso
from processor.models import DEVICE_ID_PATTERN

if TYPE_CHECKING:
    from processor.app import Pipeline
    from processor.web.resources import Resources

log = logging.getLogger(__name__)

METER_LIVE = """
SELECT meter_id, kwh_consumed_ac, voltage, ts, updated_at
FROM meter_live WHERE meter_id = %s
"""
VEHICLE_LIVE = """
SELECT vehicle_id, soc, kwh_delivered_dc, battery_temp, meter_id, ts, updated_at
FROM vehicle_live WHERE vehicle_id = %s
"""

# Field names as in the readings (camelCase), then when the live row last changed.
FIELDS = {
    "meter": ("meterId", "kwhConsumedAc", "voltage", "timestamp", "updatedAt"),
    "vehicle": ("vehicleId", "soc", "kwhDeliveredDc", "batteryTemp", "meterId", "timestamp",
                "updatedAt"),
}
QUERIES = {"meter": METER_LIVE, "vehicle": VEHICLE_LIVE}
DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def live_document(kind: str, row: tuple[Any, ...]) -> dict[str, Any]:
    values = [iso(v) if isinstance(v, datetime) else v for v in row]
    return {"type": kind, **dict(zip(FIELDS[kind], values, strict=True))}


async def fetch_live(res: Resources, kind: str, device_id: str) -> dict[str, Any] | None:
    if not DEVICE_ID.fullmatch(device_id):
        return None  # such an id can never have been stored
    pool = await res.pool()
    async with pool.connection() as conn:
        cur = await conn.execute(QUERIES[kind], (device_id,))  # type: ignore[arg-type]
        row = await cur.fetchone()
    return None if row is None else live_document(kind, tuple(row))


def register(p: Pipeline, res: Resources) -> None:
    for kind, path in (("vehicle", "/v1/vehicles/{id}/live"), ("meter", "/v1/meters/{id}/live")):
        _register(p, res, kind, path)


def _register(p: Pipeline, res: Resources, kind: str, path: str) -> None:
    class Live(View):
        async def get(self, request: Request, id: str) -> Response:  # noqa: A002
            try:
                document = await fetch_live(res, kind, id)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                log.warning("live %s %r: database unavailable: %s", kind, id, exc)
                return self.json({"error": f"the database is unavailable ({exc}); "
                                           "retry later"}, status=503)
            if document is None:
                return self.json({"error": f"unknown {kind} {id!r}: no reading of it has "
                                           "been stored"}, status=404)
            return self.json(document)

    Live.__name__ = Live.__qualname__ = f"{kind.capitalize()}Live"
    p.app.page(path, name=f"{kind}_live")(Live)
