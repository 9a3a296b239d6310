"""24-hour efficiency on the real broker and PostgreSQL: the seed's figure, links, exactness
against the history, query plans, the hourly Faust windows and alerts."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from db import efficiency_queries as queries
from db.batch_writes import connect
from processor.domain.efficiency import STATUS_ORDER, fmt2, hour_buckets, iso, window
from processor.kafka.topics import ALERTS
from tests.conftest import APP_ID, Services
from tests.helpers import (
    Worker,
    ask,
    http_json,
    publish,
    query,
    read_changelog,
    read_topic,
    uid,
    wait_until,
)

pytestmark = pytest.mark.integration
DEVICES = 200  # per table in the query plan test


def meter(mid: str, ts: datetime, kwh: float) -> dict[str, Any]:
    return {"type": "meter", "meterId": mid, "kwhConsumedAc": kwh, "voltage": 230.0,
            "timestamp": iso(ts)}


def vehicle(vid: str, ts: datetime, kwh: float, temp: float = 32.0,
            meter_id: str | None = None) -> dict[str, Any]:
    reading = {"type": "vehicle", "vehicleId": vid, "soc": 75.0, "kwhDeliveredDc": kwh,
               "batteryTemp": temp, "timestamp": iso(ts)}
    if meter_id:
        reading["meterId"] = meter_id
    return reading


def rows_written(dsn: str, table: str, column: str, ids: list[str]) -> int:
    return query(dsn, f"SELECT count(*) FROM {table} WHERE {column} = ANY(%s)", (ids,))[0][0]


# The reference: the same window aggregated straight from the history, AC per link period.
DIRECT = """
WITH links AS (
    SELECT meter_id, valid_from FROM vehicle_meter_link WHERE vehicle_id = %(v)s
    UNION ALL
    SELECT %(inferred)s::text, '-infinity' WHERE %(inferred)s::text IS NOT NULL
), periods AS (
    SELECT meter_id, valid_from,
           coalesce(lead(valid_from) OVER (ORDER BY valid_from), 'infinity') AS valid_to
    FROM links
)
SELECT (SELECT coalesce(sum(m.kwh_consumed_ac), 0) FROM meter_history m
        JOIN periods p ON m.meter_id = p.meter_id AND m.ts >= p.valid_from AND m.ts < p.valid_to
        WHERE m.ts >= %(s)s AND m.ts < %(e)s),
       (SELECT coalesce(sum(kwh_delivered_dc), 0) FROM vehicle_history
        WHERE vehicle_id = %(v)s AND ts >= %(s)s AND ts < %(e)s),
       (SELECT avg(battery_temp) FROM vehicle_history
        WHERE vehicle_id = %(v)s AND ts >= %(s)s AND ts < %(e)s)
"""


def test_seed_flow_gives_the_seeds_figures(services: Services, worker: Worker) -> None:
    run = uid()
    vid, mid = f"V-{run}", f"M-{run}"  # never linked: the meter is inferred from the id
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    publish(services.bootstrap, [meter(mid, ts, 10.5), vehicle(vid, ts, 8.5, temp=32)])
    wait_until(lambda: rows_written(services.dsn, "vehicle_history", "vehicle_id", [vid])
               and rows_written(services.dsn, "meter_history", "meter_id", [mid]),
               what="the seed's two readings")

    status, body = http_json(f"{worker.url}/v1/analytics/performance/{vid}")
    assert status == 200
    assert body["vehicleId"] == vid and body["period"] == "24 hours"
    assert body["metrics"] == {"totalAcConsumed": "10.50", "totalDcDelivered": "8.50",
                               "efficiency": "80.95%", "averageBatteryTemp": "32.00"}
    assert (body["meterId"], body["link"], body["status"]) == (mid, "inferred", "low_efficiency")
    # The window runs 24 hours up to now, ended at the pair's joint watermark: both readings
    # are an hour old, so it ends just after them, and says so.
    used = body["window"]
    asked = datetime.fromisoformat(used["requestedEnd"])
    assert datetime.fromisoformat(used["start"]) == asked - timedelta(hours=24)
    assert datetime.fromisoformat(used["end"]) == ts + timedelta(microseconds=1)
    assert used["limitedBy"] == "meter"  # both at ts: the meter's counts as the older

    # A window that ends before the readings: linked, but nothing to judge.
    status, body = http_json(f"{worker.url}/v1/analytics/performance/{vid}?at="
                             f"{iso(ts - timedelta(minutes=1))}")
    assert (status, body["status"], body["metrics"]["efficiency"]) == (200, "no_data", "N/A")

    status, body = http_json(f"{worker.url}/v1/analytics/performance/V-nobody-{run}")
    assert status == 404 and body["error"] == "unknown vehicle"
    status, body = http_json(f"{worker.url}/v1/analytics/performance/{vid}?at=yesterday")
    assert status == 400 and "at" in body["error"]

    # Without inference the same vehicle has no meter.
    async def without_inference() -> Any:
        conn = await connect(services.dsn)
        try:
            return await queries.vehicle_figures(conn, vid, [window()], infer=False)
        finally:
            await conn.close()

    fig = asyncio.run(without_inference())[0][1]
    assert (fig.meter_id, fig.link, fig.dc_kwh) == (None, None, 8.5)


def test_the_window_ends_at_the_joint_watermark_of_vehicle_and_meter(
        services: Services, worker: Worker) -> None:
    """While the meter's readings lag, the figure covers the minutes both sides have written,
    never the vehicle's full DC against the meter's partial AC."""
    run = uid()
    vid, mid = f"V-{run}", f"M-{run}"
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    minute = [base + timedelta(minutes=k) for k in range(30)]
    publish(services.bootstrap, [meter(mid, minute[k], 1.0) for k in range(10)]
            + [vehicle(vid, minute[k], 0.9, meter_id=mid) for k in range(30)])
    wait_until(lambda: rows_written(services.dsn, "vehicle_history", "vehicle_id", [vid]) == 30
               and rows_written(services.dsn, "meter_history", "meter_id", [mid]) == 10,
               what="30 vehicle and 10 meter readings")
    url = f"{worker.url}/v1/analytics/performance/{vid}"
    body = http_json(url)[1]
    assert body["metrics"]["totalAcConsumed"] == "10.00"
    assert body["metrics"]["totalDcDelivered"] == "9.00"  # minutes 0-9, not 27 kWh of DC
    assert (body["status"], body["metrics"]["efficiency"]) == ("ok", "90.00%")
    assert body["window"]["end"] == iso(minute[9] + timedelta(microseconds=1))
    assert body["window"]["limitedBy"] == "meter"
    hourly = http_json(f"{url}/hourly")[1]
    assert sum(h["dcKwh"] for h in hourly["hours"]) == pytest.approx(9.0)
    assert hourly["hours"][-1]["end"] == body["window"]["end"]
    fleet = http_json(f"{worker.url}/v1/analytics/fleet?maxAge=0")[1]
    [row] = [v for v in fleet["vehicles"] if v["vehicleId"] == vid]
    assert (row["totalDcDelivered"], row["windowEnd"]) == ("9.00", body["window"]["end"])

    # The meter catches up: the whole half hour, and the window is no longer cut short.
    publish(services.bootstrap, [meter(mid, minute[k], 1.0) for k in range(10, 30)])
    wait_until(lambda: rows_written(services.dsn, "meter_history", "meter_id", [mid]) == 30,
               what="the meter's other 20 readings")
    body = http_json(url)[1]
    assert (body["metrics"]["totalAcConsumed"], body["metrics"]["totalDcDelivered"]) == (
        "30.00", "27.00")
    assert body["window"]["end"] == iso(minute[29] + timedelta(microseconds=1))
    # A window asked to end before the watermark is not moved.
    at = iso(minute[20])
    body = http_json(f"{url}?at={at}")[1]
    assert (body["window"]["end"], body["window"]["limitedBy"]) == (at, None)
    assert body["metrics"]["totalDcDelivered"] == "18.00"


def test_figures_equal_the_history_aggregate_across_link_changes(
        services: Services, worker: Worker) -> None:
    rng = random.Random()
    run = uid()
    now = datetime.now(UTC)
    vehicles = [f"V-{run}{i}" for i in range(3)]
    meters = [f"M-{run}{i}" for i in range(3)] + [f"M-{run}x"]
    change = now - timedelta(hours=rng.uniform(3, 20))
    readings: list[dict[str, Any]] = []
    for i, vid in enumerate(vehicles):
        for _ in range(120):
            ts = now - timedelta(seconds=rng.uniform(0, 30 * 3600))
            # vehicle 0 moves to meter "x" at `change`; vehicle 2 never says (inferred)
            linked = meters[3] if i == 0 and ts >= change else meters[i]
            readings.append(vehicle(vid, ts, round(rng.uniform(0, 2), 6),
                                    round(rng.uniform(15, 40), 2),
                                    None if i == 2 else linked))
    for mid in meters:
        for _ in range(150):
            ts = now - timedelta(seconds=rng.uniform(0, 30 * 3600))
            readings.append(meter(mid, ts, round(rng.uniform(0, 2.5), 6)))
    rng.shuffle(readings)  # late and out-of-order readings
    publish(services.bootstrap, readings)
    publish(services.bootstrap, readings[:100])  # a replay counts nothing twice
    expected = {r.get("vehicleId") or r["meterId"]: 0 for r in readings}
    unique = {(r.get("vehicleId") or r["meterId"], r["timestamp"]) for r in readings}
    for device, _ts in unique:
        expected[device] += 1
    wait_until(lambda: rows_written(services.dsn, "vehicle_history", "vehicle_id", vehicles)
               + rows_written(services.dsn, "meter_history", "meter_id", meters)
               == len(unique), what="all readings in history")

    # Vehicle 1 is moved to meter "x" through the API from now on.
    status, body = http_json(f"{worker.url}/v1/fleet/vehicles/{vehicles[1]}/meter", "PUT",
                             {"meterId": meters[3]})
    assert status == 200 and body["source"] == "api"
    assert http_json(f"{worker.url}/v1/fleet/vehicles/{vehicles[1]}/meter", "PUT",
                     {"meter": "M"})[0] == 422

    links = query(services.dsn, "SELECT vehicle_id, meter_id, source FROM vehicle_meter_link "
                  "WHERE vehicle_id = ANY(%s) ORDER BY vehicle_id, valid_from", (vehicles,))
    # Readings arrive out of order, so a link may be repeated; what counts is the sequence.
    changes = [row for k, row in enumerate(links) if k == 0 or row[:2] != links[k - 1][:2]]
    assert changes == [(vehicles[0], meters[0], "reading"), (vehicles[0], meters[3], "reading"),
                       (vehicles[1], meters[1], "reading"), (vehicles[1], meters[3], "api")]

    ats = [None, now - timedelta(hours=rng.uniform(0, 6)), now + timedelta(minutes=2),
           now - timedelta(hours=rng.uniform(6, 12))]
    for at in ats:
        suffix = f"?at={iso(at)}" if at else ""
        status, body = http_json(f"{worker.url}/v1/analytics/performance/{vehicles[0]}{suffix}")
        assert status == 200
        for vid in vehicles:
            status, body = http_json(f"{worker.url}/v1/analytics/performance/{vid}{suffix}")
            start = datetime.fromisoformat(body["window"]["start"])
            end = datetime.fromisoformat(body["window"]["end"])
            # Each vehicle's inferred meter (same trailing id) covers the time before its
            # first explicit link; vehicle 2 never names a meter, so it has only that one.
            inferred = meters[vehicles.index(vid)]
            ac, dc, temp = query(services.dsn, DIRECT,
                                 {"v": vid, "s": start, "e": end, "inferred": inferred})[0]
            if vid == vehicles[2]:
                assert (body["meterId"], body["link"]) == (meters[2], "inferred")
            else:
                assert body["link"] == "explicit"
            m = body["metrics"]
            assert m["totalAcConsumed"] == fmt2(ac), (vid, at)
            assert m["totalDcDelivered"] == fmt2(dc), (vid, at)
            assert m["averageBatteryTemp"] == fmt2(temp), (vid, at)
            assert m["efficiency"] == f"{fmt2(dc / ac * 100)}%", (vid, at)

            chart = f"{worker.url}/v1/analytics/performance/{vid}/hourly{suffix}"
            status, hourly, source = ask(chart)
            assert len(hourly["hours"]) == len(hour_buckets(start, end))
            assert sum(h["acKwh"] for h in hourly["hours"]) == pytest.approx(ac, abs=1e-9)
            assert sum(h["dcKwh"] for h in hourly["hours"]) == pytest.approx(dc, abs=1e-9)
            # The recent whole hours came from the hourly tables: the rollups' very numbers.
            assert (status, source) == (200, "table"), (vid, at)
            fixed = f"{worker.url}/v1/analytics/performance/{vid}/hourly?at={iso(at or now)}"
            from_tables = ask(fixed)
            assert from_tables[2] == "table"
            assert ask(fixed, {"X-Live-Source": "postgresql"}) == (*from_tables[:2], "postgresql")

    # The Faust hourly windows mirror the rollups, each reading counted once.
    rollup = {f"{v}|{h:%Y-%m-%dT%H:00Z}": (pytest.approx(kwh), n) for v, h, kwh, n in query(
        services.dsn, "SELECT vehicle_id, hour, kwh_delivered_dc, readings FROM vehicle_hourly "
        "WHERE vehicle_id = ANY(%s)", (vehicles,))}
    windows = read_changelog(services.bootstrap, f"{APP_ID}-vehicle_hourly-changelog",
                             f"V-{run}")
    assert {k: (v["kwhDeliveredDc"], v["readings"]) for k, v in windows.items()} == rollup
    assert sum(n for _kwh, n in rollup.values()) == sum(expected[v] for v in vehicles)

    # The fleet lists the same figures: low efficiency, then ok, each worst first; then idle
    # vehicles (a parked car's 0% is not the worst), then those without a figure.
    fleet = http_json(f"{worker.url}/v1/analytics/fleet?maxAge=0")[1]
    order = [(STATUS_ORDER[v["status"]], v["efficiencyRatio"] is None,
              v["efficiencyRatio"] or 0.0) for v in fleet["vehicles"]]
    assert order == sorted(order)
    mine = {v["vehicleId"]: v for v in fleet["vehicles"] if v["vehicleId"] in vehicles}
    for vid in vehicles:
        one = http_json(f"{worker.url}/v1/analytics/performance/{vid}")[1]
        assert mine[vid]["efficiency"] == one["metrics"]["efficiency"]
        assert mine[vid]["totalAcConsumed"] == one["metrics"]["totalAcConsumed"]


def test_analytics_queries_never_scan_history_sequentially(services: Services) -> None:
    """On realistic data (a reading a minute for a day) every history access is by index."""
    run = uid()
    minutes = ("generate_series(date_trunc('minute', now()) - interval '25 hours', now(), "
               "interval '1 minute') ts")
    start, end = window()
    plans = {
        "vehicle": (queries.VEHICLE_FIGURES,
                    queries.figures_params([(start, end)], True, f"PV-{run}-7")),
        "hourly": (queries.VEHICLE_FIGURES,
                   queries.figures_params(hour_buckets(start, end), True, f"PV-{run}-7")),
        "fleet": (queries.FLEET_FIGURES, queries.figures_params([(start, end)], True)),
    }
    # One transaction, rolled back: the data (history without rollups) must not outlive the
    # test, or the rollups would no longer equal the history for other tests.
    with psycopg.connect(services.dsn, options="-c TimeZone=UTC") as conn:
        conn.execute(f"""INSERT INTO meter_history
            SELECT 'PM-' || %(run)s || '-' || d, ts, random(), 230
            FROM generate_series(1, {DEVICES}) d, {minutes}""", {"run": run})
        conn.execute(f"""INSERT INTO vehicle_history
            SELECT 'PV-' || %(run)s || '-' || d, ts, 50, random(), 30, 'PM-' || %(run)s || d
            FROM generate_series(1, {DEVICES}) d, {minutes}""", {"run": run})
        conn.execute("ANALYZE meter_history")
        conn.execute("ANALYZE vehicle_history")
        explained = {name: "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + sql, params).fetchall())  # type: ignore[operator]
            for name, (sql, params) in plans.items()}
        conn.rollback()
    for name, plan in explained.items():
        assert "_history" in plan, name
        bad = [line for line in plan.splitlines() if "Seq Scan" in line and "_history" in line]
        assert not bad, f"{name} scans history sequentially:\n{plan}"


def test_low_efficiency_alerts_once_per_crossing(services: Services, worker: Worker) -> None:
    run = uid()
    vid, mid = f"V-{run}", f"M-{run}"
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    publish(services.bootstrap, [meter(mid, base + timedelta(minutes=k), 1.0) for k in range(5)]
            + [vehicle(vid, base + timedelta(minutes=k), 0.5, meter_id=mid) for k in range(5)])

    def events(expected: int = 1) -> list[dict[str, Any]]:
        return read_topic(services.bootstrap, ALERTS, lambda v: vid.encode() in v,
                          expected=expected, timeout=3)

    def evaluated_since(t: datetime) -> bool:
        return bool(query(services.dsn, "SELECT 1 FROM efficiency_alert_state WHERE "
                          "vehicle_id = %s AND evaluated_at > %s", (vid, t)))

    low = wait_until(lambda: [e for e in events() if e["type"] == "efficiency_low"],
                     timeout=60, interval=1, what="a low-efficiency alert")
    assert low[0]["efficiencyText"] == "50.00%" and low[0]["meterId"] == mid
    alerts = http_json(f"{worker.url}/v1/alerts")[1]["alerts"]
    assert [a["efficiency"] for a in alerts if a["vehicleId"] == vid] == ["50.00%"]

    # Still low after more readings: no second event.
    publish(services.bootstrap, [meter(mid, base + timedelta(minutes=10), 1.0),
                                 vehicle(vid, base + timedelta(minutes=10), 0.4, meter_id=mid)])
    wait_until(lambda: rows_written(services.dsn, "vehicle_history", "vehicle_id", [vid]) == 6,
               what="the sixth reading")
    written = datetime.now(UTC)
    wait_until(lambda: evaluated_since(written), timeout=60, what="another evaluation")
    assert [e["type"] for e in events()] == ["efficiency_low"]

    # Back above the threshold: one recovery event, and the alert is no longer active. The
    # meter's reading of the same minute is needed: until it is written, the vehicle's window
    # ends at the meter's last reading, and the DC of minute 20 is not compared yet.
    publish(services.bootstrap, [vehicle(vid, base + timedelta(minutes=20), 3.0,
                                         meter_id=mid)])
    wait_until(lambda: rows_written(services.dsn, "vehicle_history", "vehicle_id", [vid]) == 7,
               what="the seventh reading")
    written = datetime.now(UTC)
    wait_until(lambda: evaluated_since(written), timeout=60, what="another evaluation")
    assert [e["type"] for e in events()] == ["efficiency_low"]
    publish(services.bootstrap, [meter(mid, base + timedelta(minutes=20), 0.0)])
    wait_until(lambda: [e for e in events(2) if e["type"] == "efficiency_recovered"],
               timeout=60, interval=1, what="a recovery event")
    assert [e["type"] for e in events(2)] == ["efficiency_low", "efficiency_recovered"]
    alerts = http_json(f"{worker.url}/v1/alerts")[1]["alerts"]
    assert vid not in {a["vehicleId"] for a in alerts}
    # The history holds both events as published, and the episode they make.
    history = http_json(f"{worker.url}/v1/alerts/history?vehicleId={vid}")[1]
    published = events(2)
    assert [(e["type"], e["at"], e["efficiency"]) for e in history["events"]] == [
        (e["type"], e["at"], e["efficiencyText"]) for e in reversed(published)]
    (episode,) = history["episodes"]
    assert (episode["crossedAt"], episode["recoveredAt"], episode["endedBy"]) == (
        published[0]["at"], published[1]["at"], "recovered")
    assert episode["efficiency"] == "50.00%"
    everyone = http_json(f"{worker.url}/v1/alerts/history?limit=5000")[1]
    assert vid in {e["vehicleId"] for e in everyone["episodes"]}
    assert http_json(f"{worker.url}/v1/alerts/history?limit=0")[0] == 400
