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

from db.live_queries import live_row
from processor.domain.efficiency import iso
from processor.domain.kinds import KINDS, DeviceKind
from processor.domain.readings import DEVICE_ID_PATTERN
from processor.stream.pipeline import Pipeline

if TYPE_CHECKING:
    from processor.web.resources import Resources

log = logging.getLogger(__name__)

DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def live_document(kind: DeviceKind, row: tuple[Any, ...]) -> dict[str, Any]:
    """The reading's own field names (camelCase), then when the live row last changed."""
    values = [iso(v) if isinstance(v, datetime) else v for v in row]
    fields = (kind.id_field, *kind.value_fields, "timestamp", "updatedAt")
    return {"type": kind.name, **dict(zip(fields, values, strict=True))}


async def fetch_live(res: Resources, kind: DeviceKind, device_id: str) -> dict[str, Any] | None:
    if not DEVICE_ID.fullmatch(device_id):
        return None  # such an id can never have been stored
    pool = await res.pool()
    async with pool.connection() as conn:
        row = await live_row(conn, kind, device_id)
    return None if row is None else live_document(kind, row)


def register(p: Pipeline, res: Resources) -> None:
    for kind in KINDS.values():
        _register(p, res, kind, f"/v1/{kind.name}s/{{id}}/live")


def _register(p: Pipeline, res: Resources, kind: DeviceKind, path: str) -> None:
    class Live(View):
        async def get(self, request: Request, id: str) -> Response:  # noqa: A002
            try:
                document = await fetch_live(res, kind, id)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                log.warning("live %s %r: database unavailable: %s", kind.name, id, exc)
                return self.json({"error": f"the database is unavailable ({exc}); "
                                           "retry later"}, status=503)
            if document is None:
                return self.json({"error": f"unknown {kind.name} {id!r}: no reading of it has "
                                           "been stored"}, status=404)
            return self.json(document)

    Live.__name__ = Live.__qualname__ = f"{kind.name.capitalize()}Live"
    p.app.page(path, name=f"{kind.name}_live")(Live)
