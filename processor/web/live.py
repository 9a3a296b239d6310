"""``GET /v1/vehicles/{id}/live`` and ``GET /v1/meters/{id}/live``: from the live Faust tables.

A device's latest reading is in the live table of the worker that owns its partition
(``processor/stream/ownership.py``): that worker answers from memory; another worker forwards
the request to it and passes its answer on (``processor/web/owners.py``). PostgreSQL
(``meter_live`` / ``vehicle_live``, the durable truth the table mirrors) answers instead while
the table is not ready (a rebalance or its recovery), when the owner cannot be reached, and for
a device the table does not hold (an unknown one: 404 from PostgreSQL's word).
``X-Live-Source`` says which answered: ``table`` or ``postgresql``. The JSON is the same either
way: the table keeps the row's ``updated_at`` too. A request sent with ``X-Live-Source:
postgresql`` is answered from PostgreSQL (to compare the two; the benchmark does).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg
from faust.web import Request, Response, View
from psycopg_pool import PoolTimeout

from db.live_queries import live_row
from processor.domain.efficiency import iso
from processor.domain.kinds import KINDS, DeviceKind
from processor.domain.readings import DEVICE_ID_PATTERN
from processor.stream.ownership import owner
from processor.stream.pipeline import Pipeline
from processor.web.auth import forwardable
from processor.web.owners import (
    FORWARDED,
    SOURCE,
    ask_owner,
    database_unavailable,
    wants_postgresql,
)

if TYPE_CHECKING:
    from processor.web.resources import Resources

log = logging.getLogger(__name__)

DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def document(kind: DeviceKind, values: Sequence[Any]) -> dict[str, Any]:
    """The answer: the reading's own field names (camelCase) for ``values`` (id, values...,
    timestamp, updatedAt as ISO-8601 strings)."""
    fields = (kind.id_field, *kind.value_fields, "timestamp", "updatedAt")
    return {"type": kind.name, **dict(zip(fields, values, strict=True))}


def live_document(kind: DeviceKind, row: tuple[Any, ...]) -> dict[str, Any]:
    """A PostgreSQL live row (id, values..., ts, updated_at)."""
    return document(kind, [iso(v) if isinstance(v, datetime) else v for v in row])


def table_document(kind: DeviceKind, device_id: str,
                   value: dict[str, Any]) -> dict[str, Any] | None:
    """The live table's value, answered as its PostgreSQL row is; None for a value kept
    before the tables held ``updatedAt``."""
    if "updatedAt" not in value:
        return None
    return document(kind, (device_id, *(value[f] for f in kind.value_fields),
                           iso(datetime.fromisoformat(value["ts"])),
                           iso(datetime.fromisoformat(value["updatedAt"]))))


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
    table = p.live[kind.name]

    class Live(View):
        async def get(self, request: Request, id: str) -> Response:  # noqa: A002
            started = time.perf_counter()
            response = await self.answer(request, id)
            # the view's own time, by the standard header (the benchmark reads it)
            response.headers["Server-Timing"] = (
                f"live;dur={(time.perf_counter() - started) * 1000:.3f}")
            return response

        async def answer(self, request: Request, id: str) -> Response:  # noqa: A002
            if DEVICE_ID.fullmatch(id) and not wants_postgresql(request.headers):
                where = owner(p, table, id)
                if where.here:
                    document = table_document(kind, id, table.data.get(id) or {})
                    if document is not None:
                        return self.json(document, headers={SOURCE: "table"})
                elif where.elsewhere and FORWARDED not in request.headers:
                    answer = await ask_owner(p, where.elsewhere, request.url.raw_path_qs,
                                             f"live {kind.name}",
                                             forwardable(request.headers))
                    if answer is not None:
                        return self.bytes(answer.body, content_type="application/json",
                                          status=answer.status, headers={SOURCE: answer.source})
            return await self.from_database(id)

        async def from_database(self, id: str) -> Response:  # noqa: A002
            try:
                document = await fetch_live(res, kind, id)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                log.warning("live %s %r: database unavailable: %s", kind.name, id, exc)
                return database_unavailable(self, exc)
            if document is None:
                return self.json({"error": f"unknown {kind.name} {id!r}: no reading of it has "
                                           "been stored"}, status=404,
                                 headers={SOURCE: "postgresql"})
            return self.json(document, headers={SOURCE: "postgresql"})

    Live.__name__ = Live.__qualname__ = f"{kind.name.capitalize()}Live"
    p.app.page(path, name=f"{kind.name}_live")(Live)
