"""Where the 24-hour figures come from: hourly rollups for whole hours, history for the edges.

A window is any 24 hours, rollups are whole UTC hours. So each interval [lo, hi) is cut into
the whole hours inside it (summed from ``*_hourly``) and the partial hours at its edges (summed
from ``*_history`` through the primary key (device, ts): an index range scan of at most an hour
per device, never a sequential scan). AC is summed per link period: a vehicle's energy before a
new link stays with the old meter. The result equals an SQL aggregate over the history.

Link timeline of a vehicle: its explicit links (``vehicle_meter_link``), preceded, when
inference is on, by the inferred meter (the single meter with the same trailing identifier).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from processor.domain.efficiency import Figures
from processor.domain.recent_hours import TablePieces

# The hour an instant falls in, and the first whole hour at or after it (UTC hours, as the
# writers' rollups).
_FLOOR = "date_trunc('hour', {0}, 'UTC')"
_CEIL = ("(date_trunc('hour', {0}, 'UTC') + CASE WHEN date_trunc('hour', {0}, 'UTC') = {0} "
         "THEN interval '0' ELSE interval '1 hour' END)")

# Each device's rows are summed inside its LATERAL (one row out per device and bucket, not ~80
# to sort and group): the fleet query at 10,000 vehicles 2.8 -> 1.6-2.1 s.
_FIGURES = """
WITH vehicles AS (
    SELECT vehicle_id, energy_device_suffix(vehicle_id) AS suffix FROM (
        SELECT vehicle_id FROM vehicle_live {vehicle_filter}
        UNION
        SELECT DISTINCT vehicle_id FROM vehicle_meter_link {vehicle_filter}
    ) known
), unique_meters AS (
    SELECT energy_device_suffix(meter_id) AS suffix, min(meter_id) AS meter_id
    FROM meter_live
    WHERE %(infer)s AND energy_device_suffix(meter_id) IN (SELECT suffix FROM vehicles)
    GROUP BY 1 HAVING count(*) = 1
), timeline AS (
    SELECT v.vehicle_id, '-infinity'::timestamptz AS valid_from, u.meter_id, 'inferred' AS link
    FROM vehicles v JOIN unique_meters u ON u.suffix = v.suffix
    UNION ALL
    SELECT l.vehicle_id, l.valid_from, l.meter_id, 'explicit'
    FROM vehicle_meter_link l JOIN vehicles v USING (vehicle_id)
), periods AS (
    SELECT vehicle_id, meter_id, link, valid_from,
           coalesce(lead(valid_from) OVER (PARTITION BY vehicle_id ORDER BY valid_from),
                    'infinity') AS valid_to
    FROM timeline
), current_link AS (
    SELECT DISTINCT ON (vehicle_id) vehicle_id, meter_id, link FROM periods
    WHERE valid_from < %(end)s ORDER BY vehicle_id, valid_from DESC
), marks AS (
    -- The joint watermark: the older of the last written reading of the vehicle and of its
    -- meter. The window ends just after it (the reading at the watermark counts), never
    -- after the requested end; a side that never reported does not hold the window back.
    SELECT v.vehicle_id, vl.ts AS vehicle_ts, ml.ts AS meter_ts,
           CASE WHEN vl.ts IS NULL OR ml.ts IS NULL THEN %(end)s::timestamptz
                ELSE least(%(end)s::timestamptz,
                           least(vl.ts, ml.ts) + interval '1 microsecond') END AS hi
    FROM vehicles v
    LEFT JOIN current_link cl ON cl.vehicle_id = v.vehicle_id
    LEFT JOIN vehicle_live vl ON vl.vehicle_id = v.vehicle_id
    LEFT JOIN meter_live ml ON ml.meter_id = cl.meter_id
), buckets AS (
    -- Each vehicle's buckets cut at its watermark; a bucket after it is empty (lo = hi).
    SELECT x.*, {ceil_b} AS c, {floor_b} AS f FROM (
        SELECT m.vehicle_id, b.lo, greatest(b.lo, least(b.hi, m.hi)) AS hi
        FROM marks m
        CROSS JOIN unnest(%(lo)s::timestamptz[], %(hi)s::timestamptz[]) AS b(lo, hi)) x
), segments AS (
    SELECT s.*, {ceil_s} AS c, {floor_s} AS f
    FROM (SELECT p.vehicle_id, b.lo AS bucket, p.meter_id,
                 greatest(p.valid_from, b.lo) AS lo, least(p.valid_to, b.hi) AS hi
          FROM periods p JOIN buckets b ON b.vehicle_id = p.vehicle_id AND b.lo < b.hi
              AND p.valid_from < b.hi AND p.valid_to > b.lo) s
), ac AS (
    SELECT s.vehicle_id, s.bucket, sum(e.kwh) AS kwh, sum(e.n) AS n{segments}
    FROM segments s CROSS JOIN LATERAL (SELECT sum(u.kwh) AS kwh, sum(u.n) AS n FROM (
        SELECT h.kwh_consumed_ac AS kwh, h.readings AS n FROM meter_hourly h
        WHERE h.meter_id = s.meter_id AND h.hour >= s.c AND h.hour < s.f{cut}
        UNION ALL
        SELECT m.kwh_consumed_ac, 1 FROM meter_history m
        WHERE m.meter_id = s.meter_id AND m.ts >= s.lo AND m.ts < least(s.c, s.hi)
          AND m.ts >= %(start)s AND m.ts < %(end)s
        UNION ALL
        SELECT m.kwh_consumed_ac, 1 FROM meter_history m
        WHERE m.meter_id = s.meter_id AND m.ts >= greatest(s.f, s.c) AND m.ts < s.hi
          AND m.ts >= %(start)s AND m.ts < %(end)s
    ) u) e
    GROUP BY 1, 2
), dc AS (
    SELECT b.vehicle_id, b.lo AS bucket, sum(e.kwh) AS kwh, sum(e.temp_sum) AS temp_sum,
           sum(e.temp_n) AS temp_n, sum(e.n) AS n
    FROM buckets b CROSS JOIN LATERAL (
        SELECT sum(u.kwh) AS kwh, sum(u.temp_sum) AS temp_sum, sum(u.temp_n) AS temp_n,
               sum(u.n) AS n FROM (
        SELECT h.kwh_delivered_dc AS kwh, h.battery_temp_sum AS temp_sum,
               h.battery_temp_count AS temp_n, h.readings AS n
        FROM vehicle_hourly h
        WHERE h.vehicle_id = b.vehicle_id AND h.hour >= b.c AND h.hour < b.f{cut}
        UNION ALL
        SELECT x.kwh_delivered_dc, x.battery_temp, 1, 1 FROM vehicle_history x
        WHERE x.vehicle_id = b.vehicle_id AND x.ts >= b.lo AND x.ts < least(b.c, b.hi)
          AND x.ts >= %(start)s AND x.ts < %(end)s
        UNION ALL
        SELECT x.kwh_delivered_dc, x.battery_temp, 1, 1 FROM vehicle_history x
        WHERE x.vehicle_id = b.vehicle_id AND x.ts >= greatest(b.f, b.c) AND x.ts < b.hi
          AND x.ts >= %(start)s AND x.ts < %(end)s
    ) u) e
    WHERE b.lo < b.hi
    GROUP BY 1, 2
)
SELECT b.vehicle_id, b.lo, cl.meter_id, cl.link,
       coalesce(ac.kwh, 0), coalesce(ac.n, 0), coalesce(dc.kwh, 0), coalesce(dc.temp_sum, 0),
       coalesce(dc.temp_n, 0), coalesce(dc.n, 0), live.soc, live.battery_temp, live.ts,
       b.hi, m.vehicle_ts, m.meter_ts{pieces}
FROM buckets b
JOIN marks m ON m.vehicle_id = b.vehicle_id
LEFT JOIN current_link cl ON cl.vehicle_id = b.vehicle_id
LEFT JOIN ac ON ac.vehicle_id = b.vehicle_id AND ac.bucket = b.lo
LEFT JOIN dc ON dc.vehicle_id = b.vehicle_id AND dc.bucket = b.lo
LEFT JOIN vehicle_live live ON live.vehicle_id = b.vehicle_id
ORDER BY b.vehicle_id, b.lo
"""


def _figures_sql(vehicle_filter: str, tables: bool = False) -> str:
    """``tables``: the rollups only before ``%(tables_from)s``; the whole hours from there on
    are left to the Faust hourly tables, and each row names them (``TablePieces``)."""
    return _FIGURES.format(
        vehicle_filter=vehicle_filter,
        ceil_b=_CEIL.format("x.lo"), floor_b=_FLOOR.format("x.hi"),
        ceil_s=_CEIL.format("s.lo"), floor_s=_FLOOR.format("s.hi"),
        cut=" AND h.hour < %(tables_from)s" if tables else "",
        segments=(",\n           array_agg(s.meter_id) AS meters, array_agg(s.c) AS meters_from,"
                  " array_agg(s.f) AS meters_to") if tables else "",
        pieces=(",\n       CASE WHEN b.lo < b.hi THEN b.c END, CASE WHEN b.lo < b.hi THEN b.f END,"
                "\n       ac.meters, ac.meters_from, ac.meters_to") if tables else "")


# Two texts rather than "%(vehicle)s IS NULL OR ...", so each gets a plan of its own shape.
VEHICLE_FIGURES = _figures_sql("WHERE vehicle_id = %(vehicle)s")
FLEET_FIGURES = _figures_sql("")
# The hourly chart's: its recent whole hours are read from the Faust hourly tables.
VEHICLE_TABLE_FIGURES = _figures_sql("WHERE vehicle_id = %(vehicle)s", tables=True)

SET_LINK = """
INSERT INTO vehicle_meter_link (vehicle_id, valid_from, meter_id, source)
VALUES (%s, %s, %s, 'api')
ON CONFLICT (vehicle_id, valid_from) DO UPDATE SET meter_id = EXCLUDED.meter_id,
    source = EXCLUDED.source
"""

ACTIVE_ALERTS = """
SELECT vehicle_id, meter_id, efficiency, threshold, window_start, window_end, changed_at
FROM efficiency_alert_state WHERE flagged ORDER BY efficiency NULLS LAST, vehicle_id
"""

ALERT_FLAGS = "SELECT vehicle_id, flagged FROM efficiency_alert_state"

SAVE_ALERT_EVENTS = """
INSERT INTO efficiency_alert_events
    (vehicle_id, type, status, efficiency, threshold, meter_id, window_start, window_end, at)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[],
                     %s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[])
"""

ALERT_EVENTS = """
SELECT vehicle_id, type, status, efficiency, threshold, meter_id, window_start, window_end, at
FROM efficiency_alert_events
WHERE (%(vehicle)s::text IS NULL OR vehicle_id = %(vehicle)s)
ORDER BY at DESC, id DESC LIMIT %(limit)s
"""

SAVE_ALERT_STATE = """
INSERT INTO efficiency_alert_state AS s
    (vehicle_id, flagged, efficiency, threshold, meter_id, window_start, window_end,
     changed_at, evaluated_at)
SELECT * , now(), now() FROM unnest(%s::text[], %s::boolean[], %s::float8[], %s::float8[],
                                    %s::text[], %s::timestamptz[], %s::timestamptz[])
ON CONFLICT (vehicle_id) DO UPDATE SET
    flagged = EXCLUDED.flagged, efficiency = EXCLUDED.efficiency,
    threshold = EXCLUDED.threshold, meter_id = EXCLUDED.meter_id,
    window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end,
    changed_at = CASE WHEN s.flagged = EXCLUDED.flagged THEN s.changed_at ELSE now() END,
    evaluated_at = now()
"""


@dataclass(frozen=True)
class Live:
    soc: float | None
    battery_temp: float | None
    last_seen: datetime | None


Params = dict[str, Any]
FLEET_CHUNK = 500  # fleet rows converted between two turns of the event loop (a few ms)


def figures_params(buckets: Sequence[tuple[datetime, datetime]], infer: bool,
                   vehicle_id: str | None = None) -> Params:
    return {"lo": [b[0] for b in buckets], "hi": [b[1] for b in buckets],
            "start": buckets[0][0], "end": buckets[-1][1], "infer": infer,
            "vehicle": vehicle_id}


def _figures(row: Sequence[Any]) -> Figures:
    return Figures(vehicle_id=row[0], meter_id=row[2], link=row[3], ac_kwh=float(row[4]),
                   meter_readings=int(row[5]), dc_kwh=float(row[6]), temp_sum=float(row[7]),
                   temp_count=int(row[8]), vehicle_readings=int(row[9]), end=row[13],
                   vehicle_ts=row[14], meter_ts=row[15])


async def vehicle_figures(conn: psycopg.AsyncConnection[Any], vehicle_id: str,
                          buckets: Sequence[tuple[datetime, datetime]],
                          infer: bool) -> list[tuple[datetime, Figures]] | None:
    """One vehicle's figures per bucket (contiguous, ascending); None for an unknown vehicle."""
    cur = await conn.execute(VEHICLE_FIGURES,  # type: ignore[arg-type]
                             figures_params(buckets, infer, vehicle_id), prepare=True)
    rows = await cur.fetchall()
    if not rows:
        return None
    return [(row[1], _figures(row)) for row in rows]


async def vehicle_table_figures(conn: psycopg.AsyncConnection[Any], vehicle_id: str,
                                buckets: Sequence[tuple[datetime, datetime]], infer: bool,
                                tables_from: datetime
                                ) -> list[tuple[datetime, Figures, TablePieces]] | None:
    """``vehicle_figures`` without the rollups of the whole hours from ``tables_from`` on:
    each bucket also names those hours (``TablePieces``), which the caller adds from the
    Faust hourly tables."""
    params = {**figures_params(buckets, infer, vehicle_id), "tables_from": tables_from}
    cur = await conn.execute(VEHICLE_TABLE_FIGURES,  # type: ignore[arg-type]
                             params, prepare=True)
    rows = await cur.fetchall()
    if not rows:
        return None
    return [(row[1], _figures(row), _pieces(row, tables_from)) for row in rows]


def _pieces(row: Sequence[Any], tables_from: datetime) -> TablePieces:
    """The whole hours of a bucket (``[c, f)`` of the vehicle and of each link segment's meter,
    columns 16-20) that lie at or after ``tables_from``."""
    def cut(lo: datetime | None, hi: datetime | None) -> tuple[datetime, datetime] | None:
        if lo is None or hi is None or max(lo, tables_from) >= hi:
            return None
        return max(lo, tables_from), hi

    meters = []
    for meter_id, lo, hi in zip(row[18] or (), row[19] or (), row[20] or (), strict=True):
        span = cut(lo, hi)
        if span is not None:
            meters.append((meter_id, *span))
    return TablePieces(vehicle=cut(row[16], row[17]), meters=tuple(meters))


async def fleet_figures(conn: psycopg.AsyncConnection[Any], start: datetime, end: datetime,
                        infer: bool) -> list[tuple[Figures, Live]]:
    """Every vehicle's figures over [start, end), with its live state."""
    cur = await conn.execute(FLEET_FIGURES,  # type: ignore[arg-type]
                             figures_params([(start, end)], infer))
    out: list[tuple[Figures, Live]] = []
    # Converted a chunk at a time, yielding between: 10,000 rows are ~130 ms of Python, which
    # would otherwise hold up every request and agent on the worker's event loop.
    while rows := await cur.fetchmany(FLEET_CHUNK):
        out.extend((_figures(row), Live(row[10], row[11], row[12])) for row in rows)
        await asyncio.sleep(0)
    return out


async def set_link(conn: psycopg.AsyncConnection[Any], vehicle_id: str, meter_id: str,
                   valid_from: datetime) -> None:
    await conn.execute(SET_LINK, (vehicle_id, valid_from, meter_id))


async def active_alerts(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(ACTIVE_ALERTS)
    return await cur.fetchall()


async def alert_flags(conn: psycopg.AsyncConnection[Any]) -> dict[str, bool]:
    cur = await conn.execute(ALERT_FLAGS)
    return {row[0]: row[1] for row in await cur.fetchall()}


async def save_alert_events(conn: psycopg.AsyncConnection[Any],
                            events: Sequence[dict[str, Any]]) -> None:
    """The events as published on alerts.efficiency (``processor/stream/alerts.py``)."""
    if not events:
        return
    columns: list[list[Any]] = [[] for _ in range(9)]
    for e in events:
        for column, value in zip(columns, (
                e["vehicleId"], e["type"], e["status"], e["efficiency"], e["threshold"],
                e["meterId"], e["window"]["start"], e["window"]["end"], e["at"]), strict=True):
            column.append(value)
    await conn.execute(SAVE_ALERT_EVENTS, columns)


async def alert_events(conn: psycopg.AsyncConnection[Any], vehicle_id: str | None,
                       limit: int) -> list[tuple[Any, ...]]:
    """Newest first: (vehicle_id, type, status, efficiency, threshold, meter_id, window_start,
    window_end, at)."""
    cur = await conn.execute(ALERT_EVENTS, {"vehicle": vehicle_id, "limit": limit})
    return await cur.fetchall()


async def save_alert_states(conn: psycopg.AsyncConnection[Any],
                            states: Sequence[tuple[Any, ...]]) -> None:
    """(vehicle_id, flagged, efficiency, threshold, meter_id, window_start, window_end) rows."""
    if not states:
        return
    columns = [list(col) for col in zip(*states, strict=True)]
    await conn.execute(SAVE_ALERT_STATE, columns)  # type: ignore[arg-type]


_POOLS: dict[str, Any] = {}
_POOL_LOCK = asyncio.Lock()


async def pool(dsn: str) -> Any:
    """A small shared connection pool for readers (web views, the alert timer), in UTC.

    Statements are planned with their values, except one vehicle's figures: prepared once per
    connection with a generic plan, since planning that statement (~2-3 ms, the partitions and
    CTEs) cost more than running it (~1.5 ms); measured p50 4 -> 1 ms at 10,000 vehicles."""
    from psycopg_pool import AsyncConnectionPool

    async with _POOL_LOCK:
        found = _POOLS.get(dsn)
        if found is None:
            found = AsyncConnectionPool(
                dsn, min_size=1, max_size=4, open=False,
                kwargs={"options": "-c TimeZone=UTC -c plan_cache_mode=force_generic_plan",
                        "autocommit": True,
                        # never prepared automatically; explicitly (prepare=True) only
                        "prepare_threshold": 1 << 30})
            await found.open()
            _POOLS[dsn] = found
        return found
