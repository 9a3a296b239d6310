"""``GET /v1/vehicles/{id}/hours`` and ``GET /v1/meters/{id}/hours``: a device's hourly totals,
from the hourly Faust tables; and ``device_hours``, which the hourly chart reads them with.

A device's recent hours are in the hourly table of the worker that owns its partition (the
same routing as the live views: ``processor/web/owners.py``). The tables hold the hours from
``tables_from`` on (``processor/domain/recent_hours.py``); a range reaching further back,
a table not ready, an owner that does not answer, or a request sent with ``X-Live-Source:
postgresql`` is answered from the PostgreSQL rollups, the same numbers. ``X-Live-Source``
says which.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
import psycopg
from faust.web import Request, Response, View
from psycopg_pool import PoolTimeout

from db.live_queries import hour_rows
from processor.domain.efficiency import iso, parse_at
from processor.domain.kinds import KINDS, DeviceKind
from processor.domain.recent_hours import HOUR, Hours, hours, tables_from
from processor.domain.table_entries import hour_key
from processor.stream.ownership import owner
from processor.stream.pipeline import Pipeline
from processor.web.auth import forwardable
from processor.web.live import DEVICE_ID
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

MAX_HOURS = 31 * 24  # the longest range one request may ask for


def hours_path(kind: DeviceKind, device_id: str) -> str:
    return f"/v1/{kind.name}s/{device_id}/hours"


def table_hours(table: Any, device_id: str, lo: datetime, hi: datetime) -> dict[datetime, Any]:
    """The device's values in the hourly table for the hours in [lo, hi)."""
    data = table.data
    found = {}
    for hour in hours(lo, hi):
        value = data.get(hour_key(device_id, hour))
        if value is not None:
            found[hour] = value
    return found


def hours_document(kind: DeviceKind, device_id: str, lo: datetime, hi: datetime,
                   found: Hours) -> dict[str, Any]:
    return {"type": kind.name, kind.id_field: device_id, "from": iso(lo), "to": iso(hi),
            "hours": [{"hour": iso(hour), **found[hour]} for hour in sorted(found)]}


def read_document(body: bytes) -> dict[datetime, Any]:
    """The hours of an ``hours_document`` another worker sent."""
    return {datetime.fromisoformat(h.pop("hour")): h for h in orjson.loads(body)["hours"]}


class DatabaseUnavailable(Exception):
    pass


async def device_hours(p: Pipeline, res: Resources, kind: DeviceKind, device_id: str,
                       lo: datetime, hi: datetime, credentials: dict[str, str], *,
                       postgresql: bool = False, forwarded: bool = False
                       ) -> tuple[dict[datetime, Any], str]:
    """The device's hourly totals in [lo, hi) (``lo`` a whole hour) and which store gave them:
    the owner's table when it holds the range, else the rollups. ``credentials``: the
    request's API key, passed on to the owner. Raises DatabaseUnavailable."""
    table = p.hourly[kind.name]
    if (not postgresql and DEVICE_ID.fullmatch(device_id)
            and lo >= tables_from(p.settings.hourly_window_hours, datetime.now(UTC))):
        where = owner(p, table, device_id)
        if where.here:
            return table_hours(table, device_id, lo, hi), "table"
        if where.elsewhere and not forwarded:
            query = urlencode({"from": iso(lo), "to": iso(hi)})
            answer = await ask_owner(p, where.elsewhere,
                                     f"{hours_path(kind, device_id)}?{query}",
                                     f"hours of {kind.name} {device_id!r}", credentials)
            if answer is not None and answer.status == 200:
                return read_document(answer.body), answer.source
    try:
        pool = await res.pool()
        async with pool.connection() as conn:
            rows = await hour_rows(conn, kind, device_id, lo, hi)
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    return {row[1]: kind.hour_value(row) for row in rows}, "postgresql"


def requested_range(request: Request, window_hours: int) -> tuple[datetime, datetime]:
    """[from, to) of the request, whole hours: ``from`` defaults to the first hour the tables
    hold, ``to`` to the end of the current hour. Raises ValueError (parameter, detail)."""
    now = datetime.now(UTC)
    bounds = {}
    for name in ("from", "to"):
        try:
            bounds[name] = parse_at(request.query.get(name))
        except ValueError:
            raise ValueError(name, f"{request.query.get(name)!r} is not an ISO-8601 date-time, "
                                   "e.g. 2026-02-10T19:00:00Z") from None
    try:
        lo = whole_hour(bounds["from"] or tables_from(window_hours, now))
    except OverflowError:
        raise ValueError("from", "out of range") from None
    try:
        end = bounds["to"]
        if end is None:
            hi = whole_hour(now) + HOUR
        else:
            hi = whole_hour(end) if whole_hour(end) == end else whole_hour(end) + HOUR
    except OverflowError:
        raise ValueError("to", "out of range") from None
    if hi <= lo:
        raise ValueError("to", f"{iso(hi)} is not after 'from' ({iso(lo)})")
    if hi - lo > timedelta(hours=MAX_HOURS):
        raise ValueError("to", f"at most {MAX_HOURS} hours from 'from' in one request")
    return lo, hi


def whole_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def register(p: Pipeline, res: Resources) -> None:
    for kind in KINDS.values():
        _register(p, res, kind)


def _register(p: Pipeline, res: Resources, kind: DeviceKind) -> None:
    class DeviceHours(View):
        async def get(self, request: Request, id: str) -> Response:  # noqa: A002
            if not DEVICE_ID.fullmatch(id):
                return self.json({"error": f"unknown {kind.name} {id!r}: a {kind.name} id "
                                           f"matches {DEVICE_ID.pattern}"}, status=404)
            try:
                lo, hi = requested_range(request, p.settings.hourly_window_hours)
            except ValueError as exc:
                name, detail = exc.args
                return self.json({"error": f"invalid '{name}'", "detail": detail}, status=400)
            try:
                found, source = await device_hours(
                    p, res, kind, id, lo, hi, forwardable(request.headers),
                    postgresql=wants_postgresql(request.headers),
                    forwarded=FORWARDED in request.headers)
            except DatabaseUnavailable as exc:
                log.warning("hours of %s %r: database unavailable: %s", kind.name, id, exc)
                return database_unavailable(self, exc)
            return self.json(hours_document(kind, id, lo, hi, found), headers={SOURCE: source})

    DeviceHours.__name__ = DeviceHours.__qualname__ = f"{kind.name.capitalize()}Hours"
    p.app.page(f"/v1/{kind.name}s/{{id}}/hours", name=f"{kind.name}_hours")(DeviceHours)
