"""Analytics latency: ``GET /v1/analytics/performance/{id}`` and ``GET /v1/analytics/fleet`` on a
fleet with days of hourly rollups.

What the endpoints read (db/efficiency_queries.py): hourly rollups for the whole hours of the
24-hour window, history through its primary key for the partial hours at both edges, live state and
links. So the load is: rollups for every hour of the days, minute history for the two edge hours
(the full days of history would be 2 x vehicles x 1,440 rows a day and are never read), one live
row per device and one explicit link per vehicle.
"""

from __future__ import annotations

import http.client
import random
import time
from typing import Any

import psycopg

from benchmarks import pipeline
from benchmarks.env import Stack, log
from benchmarks.stats import latency_summary

PERFORMANCE = "/v1/analytics/performance/{}"
FLEET = "/v1/analytics/fleet"

# %(n)s vehicles (and meters), ids as producers.fleet makes them; %(w)s digits.
LOAD = [
    # minute history for the edge hours: the hour 24 h ago and the current one, up to now
    """INSERT INTO meter_history (meter_id, ts, kwh_consumed_ac, voltage)
       SELECT 'M-' || lpad(i::text, %(w)s, '0'), t, 0.12 + (i %% 7) * 0.01, 230
       FROM generate_series(1, %(n)s) i CROSS JOIN (
           SELECT generate_series(date_trunc('hour', now() - interval '24 hours'),
                                  date_trunc('hour', now() - interval '24 hours')
                                  + interval '59 minutes', interval '1 minute')
           UNION ALL
           SELECT generate_series(date_trunc('hour', now()), now(), interval '1 minute')) m(t)""",
    """INSERT INTO vehicle_history (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp,
                                    meter_id)
       SELECT 'V-' || lpad(i::text, %(w)s, '0'), ts,
              50, kwh_consumed_ac * (0.80 + (i %% 16) / 100.0), 25 + (i %% 10),
              meter_id
       FROM meter_history JOIN LATERAL (SELECT substr(meter_id, 3)::int AS i) x ON true""",
    # rollups: every hour of the days except the two edge hours, then those from the history
    """INSERT INTO meter_hourly (meter_id, hour, kwh_consumed_ac, readings)
       SELECT 'M-' || lpad(i::text, %(w)s, '0'), h, 60 * (0.12 + (i %% 7) * 0.01), 60
       FROM generate_series(1, %(n)s) i CROSS JOIN generate_series(
           date_trunc('hour', now()) - make_interval(days => %(days)s),
           date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h
       WHERE h <> date_trunc('hour', now() - interval '24 hours')""",
    """INSERT INTO vehicle_hourly (vehicle_id, hour, kwh_delivered_dc, battery_temp_sum,
                                   battery_temp_count, readings)
       SELECT 'V-' || lpad(i::text, %(w)s, '0'), h,
              60 * (0.12 + (i %% 7) * 0.01) * (0.80 + (i %% 16) / 100.0),
              60 * (25 + (i %% 10)), 60, 60
       FROM generate_series(1, %(n)s) i CROSS JOIN generate_series(
           date_trunc('hour', now()) - make_interval(days => %(days)s),
           date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h
       WHERE h <> date_trunc('hour', now() - interval '24 hours')""",
    """INSERT INTO meter_hourly (meter_id, hour, kwh_consumed_ac, readings)
       SELECT meter_id, date_trunc('hour', ts), sum(kwh_consumed_ac), count(*)
       FROM meter_history GROUP BY 1, 2""",
    """INSERT INTO vehicle_hourly (vehicle_id, hour, kwh_delivered_dc, battery_temp_sum,
                                   battery_temp_count, readings)
       SELECT vehicle_id, date_trunc('hour', ts), sum(kwh_delivered_dc), sum(battery_temp),
              count(*), count(*)
       FROM vehicle_history GROUP BY 1, 2""",
    """INSERT INTO meter_live (meter_id, ts, kwh_consumed_ac, voltage)
       SELECT DISTINCT ON (meter_id) meter_id, ts, kwh_consumed_ac, voltage
       FROM meter_history ORDER BY meter_id, ts DESC""",
    """INSERT INTO vehicle_live (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id)
       SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, soc, kwh_delivered_dc, battery_temp,
              meter_id
       FROM vehicle_history ORDER BY vehicle_id, ts DESC""",
    """INSERT INTO vehicle_meter_link (vehicle_id, valid_from, meter_id, source)
       SELECT 'V-' || lpad(i::text, %(w)s, '0'),
              date_trunc('hour', now()) - make_interval(days => %(days)s),
              'M-' || lpad(i::text, %(w)s, '0'), 'reading'
       FROM generate_series(1, %(n)s) i""",
]


def load(dsn: str, vehicles: int, days: int) -> dict[str, Any]:
    """Bulk-load the fleet in SQL; returns the row counts and how long it took."""
    width = max(4, len(str(vehicles)))
    started = time.monotonic()
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn:
        for sql in LOAD:
            conn.execute(sql, {"n": vehicles, "w": width, "days": days})  # type: ignore[arg-type]
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) meter_history, vehicle_history, meter_hourly, "
                     "vehicle_hourly, meter_live, vehicle_live, vehicle_meter_link")
        rows = conn.execute("SELECT (SELECT count(*) FROM vehicle_hourly), "
                            "(SELECT count(*) FROM meter_hourly), "
                            "(SELECT count(*) FROM vehicle_history) + "
                            "(SELECT count(*) FROM meter_history)").fetchone()
    assert rows is not None
    return {"vehicles": vehicles, "days": days, "vehicle_hourly_rows": rows[0],
            "meter_hourly_rows": rows[1], "history_rows": rows[2],
            "load_seconds": round(time.monotonic() - started, 1)}


def timed_gets(port: int, paths: list[str]) -> tuple[list[float], dict[int, int]]:
    """Sequential GETs over one keep-alive connection: seconds each, and the status counts."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    seconds: list[float] = []
    statuses: dict[int, int] = {}
    try:
        for path in paths:
            t0 = time.perf_counter()
            conn.request("GET", path)
            reply = conn.getresponse()
            reply.read()
            seconds.append(time.perf_counter() - t0)
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
    finally:
        conn.close()
    return seconds, statuses


def measure(stack: Stack, vehicles: int, days: int, requests: int, fleet_requests: int,
            partitions: int, seed: int = 7) -> dict[str, Any]:
    with stack.scenario("analytics", partitions) as sc:
        loaded = load(sc.dsn, vehicles, days)
        log(f"analytics: loaded {loaded['vehicle_hourly_rows'] + loaded['meter_hourly_rows']:,} "
            f"rollup rows and {loaded['history_rows']:,} history rows in "
            f"{loaded['load_seconds']}s")
        worker = pipeline.start_workers(sc, 1)[0]
        # The worker takes its first fleet snapshot at start; the first GET waits for it. Timed
        # on its own (what the first page view after a restart costs), not among the rest.
        first, _ = timed_gets(worker.web_port, [FLEET])
        width = max(4, len(str(vehicles)))
        rng = random.Random(seed)
        status, body = _get(worker.web_port, PERFORMANCE.format(f"V-{1:0{width}d}"))
        if status == 404 and "unknown vehicle" not in body:
            return {"skipped": "GET /v1/analytics/performance/{id} does not exist", **loaded}
        # warm the pool and the plans, then measure
        timed_gets(worker.web_port, [PERFORMANCE.format(f"V-{rng.randint(1, vehicles):0{width}d}")
                                     for _ in range(20)])
        paths = [PERFORMANCE.format(f"V-{rng.randint(1, vehicles):0{width}d}")
                 for _ in range(requests)]
        log(f"analytics: {requests} sequential performance GETs, {fleet_requests} fleet GETs")
        perf, perf_status = timed_gets(worker.web_port, paths)
        fleet, fleet_status = timed_gets(worker.web_port, [FLEET] * fleet_requests)
        peak = worker.peak_rss_mb()
    result: dict[str, Any] = {**loaded, "requests": requests, "statuses": perf_status,
                              **latency_summary(perf)}
    fleet_summary = latency_summary(fleet)
    result.update({"fleet_requests": fleet_requests, "fleet_statuses": fleet_status,
                   "fleet_p50_ms": fleet_summary["p50_ms"],
                   "fleet_p99_ms": fleet_summary["p99_ms"],
                   "fleet_first_ms": round(first[0] * 1000, 2),
                   "worker_peak_rss_mb": [peak]})
    log(f"analytics: performance p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; "
        f"fleet p50 {result['fleet_p50_ms']:.1f} ms, p99 {result['fleet_p99_ms']:.1f} ms "
        f"(first after start {result['fleet_first_ms']:.0f} ms)")
    return result


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read().decode(errors="replace")
    finally:
        conn.close()
