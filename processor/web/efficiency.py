"""Analytics over HTTP: one vehicle's 24 hours, its hourly chart, the fleet, active alerts.

Every figure comes from ``db/efficiency_queries.py`` (rollups for whole hours, history through
its key for the edges), so these endpoints agree with each other and with the history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from faust.web import Request, Response, View
from prometheus_client import REGISTRY

from db import efficiency_queries as queries
from processor.domain.alert_history import AlertEvent, episodes
from processor.domain.efficiency import (
    Rules,
    efficiency,
    fmt2,
    fmt_percent,
    hour_buckets,
    hour_efficiency,
    iso,
    judged,
    parse_at,
    performance,
    sort_worst_first,
    window,
    window_of,
)
from processor.domain.fleet_pages import (
    FleetQuery,
    QueryError,
    parse_query,
    select,
    summary,
    wants_page,
)
from processor.domain.kinds import KINDS, METER, VEHICLE
from processor.domain.recent_hours import TablePieces, tables_from, with_table_hours
from processor.stream.pipeline import Pipeline
from processor.web.auth import forwardable
from processor.web.efficiency_openapi import describe_analytics
from processor.web.hours import DatabaseUnavailable, device_hours
from processor.web.live import DEVICE_ID
from processor.web.owners import SOURCE, database_unavailable, wants_postgresql
from processor.web.snapshot import Snapshot

if TYPE_CHECKING:
    from processor.web.resources import Resources

log = logging.getLogger(__name__)


def bad_at(view: View, value: str | None) -> Response:
    return view.json({"error": "invalid 'at'", "detail": f"{value!r} is not an ISO-8601 "
                      "date-time, e.g. 2026-02-10T19:00:00Z"}, status=400)


def requested_window(request: Request) -> tuple[datetime, datetime]:
    """[start, end) for ``?at=`` (default now); raises ValueError on a bad ``at``."""
    return window(parse_at(request.query.get("at")))


def unknown_vehicle(view: View, vehicle_id: str) -> Response:
    return view.json({"error": "unknown vehicle", "vehicleId": vehicle_id,
                      "detail": "no reading and no meter link for this vehicle"}, status=404)


ROWS_METRIC = "energy_history_rows_total"  # processor/stream/metrics.py, ROWS_WRITTEN


def rows_inserted() -> int:
    """Readings this worker's writers have inserted so far, from their counter: a fleet
    snapshot taken before the first of them is known to be older than the data
    (processor/web/snapshot.py)."""
    return sum(int(REGISTRY.get_sample_value(ROWS_METRIC, {"type": kind, "outcome": "inserted"})
                   or 0) for kind in KINDS)


HISTORY_LIMIT = 200  # alert events a history answer holds by default
HISTORY_MAX = 5000


def fleet_row(fig: Any, live: queries.Live, rules: Rules) -> dict[str, Any]:
    ratio = fig.efficiency
    temp = fig.average_temp
    state, reason = judged(fig, rules)
    return {
        "vehicleId": fig.vehicle_id, "meterId": fig.meter_id, "link": fig.link,
        "soc": live.soc, "batteryTemp": live.battery_temp,
        "lastSeen": iso(live.last_seen) if live.last_seen else None,
        "totalAcConsumed": fmt2(fig.ac_kwh), "totalDcDelivered": fmt2(fig.dc_kwh),
        "efficiency": fmt_percent(ratio), "efficiencyRatio": ratio,
        "averageBatteryTemp": fmt2(temp) if temp is not None else "N/A",
        "status": state, "statusReason": reason,
        "windowEnd": iso(fig.end) if fig.end is not None else None,
    }


def status_counts(vehicles: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(v["status"] for v in vehicles))


async def encode_fleet(body: dict[str, Any]) -> bytes:
    """``orjson.dumps(body)``, the vehicles a chunk at a time with the event loop turning between
    (10,000 vehicles in one call hold it ~20 ms). ``vehicles`` must be the body's last key."""
    *_, last = body
    assert last == "vehicles", "the vehicles go last"
    vehicles = body["vehicles"]
    head = orjson.dumps({**body, "vehicles": []}, default=str)  # ... "vehicles":[]}
    parts = []
    for i in range(0, len(vehicles), queries.FLEET_CHUNK):
        parts.append(orjson.dumps(vehicles[i:i + queries.FLEET_CHUNK], default=str)[1:-1])
        await asyncio.sleep(0)
    return head[:-2] + b",".join(parts) + b"]}"


async def with_recent_hours(p: Pipeline, res: Resources, vehicle_id: str,
                            rows: list[tuple[datetime, Any, TablePieces]],
                            credentials: dict[str, str]
                            ) -> tuple[list[tuple[datetime, Any]], str]:
    """The buckets' figures with their table hours added (the vehicle's and each meter's, from
    the owners' tables), and ``table`` when every one came from a table."""
    spans: dict[tuple[Any, str], list[tuple[datetime, datetime]]] = {}
    for _lo, _fig, pieces in rows:
        if pieces.vehicle is not None:
            spans.setdefault((VEHICLE, vehicle_id), []).append(pieces.vehicle)
        for meter_id, lo, hi in pieces.meters:
            spans.setdefault((METER, meter_id), []).append((lo, hi))
    asked = list(spans)
    answers = await asyncio.gather(*(
        device_hours(p, res, kind, device_id, min(lo for lo, _ in spans[kind, device_id]),
                     max(hi for _, hi in spans[kind, device_id]), credentials)
        for kind, device_id in asked))
    found = dict(zip(asked, (hours for hours, _source in answers), strict=True))
    meters = {device_id: hours for (kind, device_id), hours in found.items() if kind is METER}
    vehicle = found.get((VEHICLE, vehicle_id), {})
    source = "table" if answers and all(s == "table" for _h, s in answers) else "postgresql"
    return [(lo, with_table_hours(fig, pieces, vehicle, meters))
            for lo, fig, pieces in rows], source


def register(p: Pipeline, res: Resources) -> None:
    settings = p.settings
    describe_analytics()

    async def figures(view: View, request: Request, vehicle_id: str, hourly: bool
                      ) -> tuple[datetime, datetime, Any, str] | Any:
        """(start, end, figures per bucket, source) of the requested window, or the error
        response. The hourly buckets' recent whole hours come from the hourly tables."""
        try:
            start, end = requested_window(request)
        except ValueError:
            return bad_at(view, request.query.get("at"))
        buckets = hour_buckets(start, end) if hourly else [(start, end)]
        db = await queries.pool(p.dsn)
        infer = settings.link_inference
        if not hourly or wants_postgresql(request.headers):
            async with db.connection() as conn:
                found = await queries.vehicle_figures(conn, vehicle_id, buckets, infer)
            if found is None:
                return unknown_vehicle(view, vehicle_id)
            return start, end, found, "postgresql"
        since = tables_from(settings.hourly_window_hours, datetime.now(UTC))
        async with db.connection() as conn:
            rows = await queries.vehicle_table_figures(conn, vehicle_id, buckets, infer, since)
        if rows is None:
            return unknown_vehicle(view, vehicle_id)
        try:
            found, source = await with_recent_hours(p, res, vehicle_id, rows,
                                                    forwardable(request.headers))
        except DatabaseUnavailable as exc:
            return database_unavailable(view, exc)
        return start, end, found, source

    @p.app.page("/v1/analytics/performance/{vehicle_id}")
    class Performance(View):
        async def get(self, request: Request, vehicle_id: str) -> Response:
            result = await figures(self, request, vehicle_id, hourly=False)
            if not isinstance(result, tuple):
                return result  # the error response
            start, end, found, _source = result
            return self.json(performance(found[0][1], start, end, settings.efficiency_rules))

    @p.app.page("/v1/analytics/performance/{vehicle_id}/hourly")
    class Hourly(View):
        """The window cut at whole hours: AC against DC per hour; the bars sum to the total."""

        async def get(self, request: Request, vehicle_id: str) -> Response:
            result = await figures(self, request, vehicle_id, hourly=True)
            if not isinstance(result, tuple):
                return result  # the error response
            start, end, found, source = result
            # Hours after the pair's joint watermark are empty (cut to nothing): not shown.
            known = [(lo, fig) for lo, fig in found if fig.end_within(end) > lo]
            rules = settings.efficiency_rules
            ratios = [hour_efficiency(fig.ac_kwh, fig.dc_kwh, rules) for _lo, fig in known]
            hours = [{"start": iso(lo), "end": iso(fig.end_within(end)), "acKwh": fig.ac_kwh,
                      "dcKwh": fig.dc_kwh, "efficiencyRatio": ratio,
                      "efficiency": fmt_percent(ratio)}
                     for (lo, fig), ratio in zip(known, ratios, strict=True)]
            ac = sum(fig.ac_kwh for (_lo, fig) in known)
            dc = sum(fig.dc_kwh for (_lo, fig) in known)
            last = found[-1][1]
            whole = dataclasses.replace(last, end=known[-1][1].end_within(end) if known
                                        else start)
            return self.json({"vehicleId": vehicle_id, "meterId": last.meter_id,
                              "window": window_of(whole, start, end),
                              "hours": hours, "efficiency": fmt_percent(efficiency(ac, dc))},
                             headers={SOURCE: source})

    async def fleet_body(at: datetime | None) -> dict[str, Any]:
        start, end = window(at)
        db = await queries.pool(p.dsn)
        async with db.connection() as conn:
            rows = await queries.fleet_figures(conn, start, end, settings.link_inference)
            alerts = {row[0] for row in await queries.active_alerts(conn)}
        rules = settings.efficiency_rules
        vehicles: list[dict[str, Any]] = []
        for i in range(0, len(rows), queries.FLEET_CHUNK):
            vehicles.extend({**fleet_row(fig, live, rules), "alert": fig.vehicle_id in alerts}
                            for fig, live in rows[i:i + queries.FLEET_CHUNK])
            await asyncio.sleep(0)  # a chunk at a time: requests are served between
        vehicles = sort_worst_first(vehicles)
        return {"period": "24 hours", "window": {"start": iso(start), "end": iso(end)},
                "threshold": rules.threshold, "minChargeKwh": rules.min_charge_kwh,
                "statusCounts": status_counts(vehicles), "count": len(vehicles),
                "computedAt": iso(datetime.now(UTC)),
                "summary": summary(vehicles, rules.threshold),
                "vehicles": vehicles}

    async def fleet_json() -> tuple[dict[str, Any], bytes]:
        # Encoded once per snapshot: 10,000 vehicles take ~20 ms to encode, ~1 ms to send.
        body = await fleet_body(None)
        return body, await encode_fleet(body)

    def fleet_page(body: dict[str, Any], query: FleetQuery) -> dict[str, Any]:
        total, page = select(body["vehicles"], query)
        return {**{k: v for k, v in body.items() if k != "vehicles"}, "total": total,
                **query.as_dict(), "vehicles": page}

    live_fleet = Snapshot(settings.fleet_cache_seconds, fleet_json,
                          stale=settings.fleet_stale_seconds, written=rows_inserted)

    @p.app.task
    async def warm_fleet() -> None:
        """Take the first snapshot at start, so the first page view does not wait for it."""
        try:
            await live_fleet.get()
        except Exception as exc:  # the page will try again; the worker carries on
            log.warning("fleet snapshot at start failed (%s); it is retried on request", exc)

    @p.app.page("/v1/analytics/fleet")
    class Fleet(View):
        async def get(self, request: Request) -> Response:
            """The 24 hours up to now from a snapshot: refreshed once older than
            FLEET_CACHE_SECONDS, an older one served meanwhile up to FLEET_STALE_SECONDS;
            ``?maxAge=N`` waits for one at most N seconds old (0 computes afresh); ``?at=`` is
            always computed."""
            try:
                query = parse_query(request.query) if wants_page(request.query) else None
            except QueryError as exc:
                return self.json({"error": str(exc), "field": exc.field, "detail": exc.detail},
                                 status=400)
            try:
                at = parse_at(request.query.get("at"))
                asked = request.query.get("maxAge")
                max_age = None if asked is None else float(asked)
                if max_age is not None and not max_age >= 0:
                    raise ValueError(max_age)
            except ValueError:
                if "at" in request.query:
                    return bad_at(self, request.query.get("at"))
                return self.json({"error": "invalid 'maxAge'", "field": "maxAge",
                                  "detail": "seconds, a number >= 0"}, status=400)
            if "at" in request.query:
                body = await fleet_body(at)
                return self.json(body if query is None else fleet_page(body, query))
            body, encoded = await live_fleet.get(max_age)
            if query is None:
                return self.bytes(encoded, content_type="application/json")
            return self.json(fleet_page(body, query))

    @p.app.page("/v1/alerts/history")
    class AlertHistory(View):
        async def get(self, request: Request) -> Response:
            vehicle = request.query.get("vehicleId") or None
            if vehicle is not None and not DEVICE_ID.fullmatch(vehicle):
                return self.json({"error": "invalid 'vehicleId'", "field": "vehicleId",
                                  "detail": f"a vehicle id matches {DEVICE_ID.pattern}"},
                                 status=400)
            raw = request.query.get("limit", str(HISTORY_LIMIT))
            if not raw.isdigit() or not 1 <= int(raw) <= HISTORY_MAX:
                return self.json({"error": "invalid 'limit'", "field": "limit",
                                  "detail": f"a whole number from 1 to {HISTORY_MAX}"},
                                 status=400)
            db = await queries.pool(p.dsn)
            async with db.connection() as conn:
                rows = await queries.alert_events(conn, vehicle, int(raw))
            events = [AlertEvent(*row) for row in rows]
            return self.json({"vehicleId": vehicle, "events": [e.document() for e in events],
                              "episodes": episodes(events)})

    @p.app.page("/v1/alerts")
    class Alerts(View):
        async def get(self, request: Request) -> Response:
            db = await queries.pool(p.dsn)
            async with db.connection() as conn:
                rows = await queries.active_alerts(conn)
            return self.json({"alerts": [
                {"vehicleId": r[0], "meterId": r[1], "efficiencyRatio": r[2],
                 "efficiency": fmt_percent(r[2]), "threshold": r[3],
                 "window": {"start": iso(r[4]), "end": iso(r[5])}, "since": iso(r[6])}
                for r in rows]})


