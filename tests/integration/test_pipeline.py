"""End to end on the real broker and PostgreSQL: raw readings -> history, live, dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Services
from tests.helpers import Worker, publish, query, read_topic, uid, wait_until

pytestmark = pytest.mark.integration


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def meter(mid: str, ts: datetime, kwh: float, voltage: float = 230.0) -> dict[str, Any]:
    return {"type": "meter", "meterId": mid, "kwhConsumedAc": kwh, "voltage": voltage,
            "timestamp": iso(ts)}


def vehicle(vid: str, ts: datetime, kwh: float, soc: float = 50.0, temp: float = 30.0,
            meter_id: str | None = None) -> dict[str, Any]:
    reading = {"vehicleId": vid, "soc": soc, "kwhDeliveredDc": kwh, "batteryTemp": temp,
               "timestamp": iso(ts)}  # no "type": inferred from vehicleId
    if meter_id:
        reading["meterId"] = meter_id
    return reading


def history(dsn: str, table: str, id_col: str, prefix: str) -> set[tuple[Any, ...]]:
    cols = ("meter_id, ts, kwh_consumed_ac, voltage" if table == "meter_history" else
            "vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id")
    return set(query(dsn, f"SELECT {cols} FROM {table} WHERE {id_col} LIKE %s",
                     (prefix + "%",)))


def count(dsn: str, table: str, id_col: str, prefix: str) -> int:
    return query(dsn, f"SELECT count(*) FROM {table} WHERE {id_col} LIKE %s",
                 (prefix + "%",))[0][0]


def test_readings_are_read_whatever_codec_their_producer_compressed_them_with(
        services: Services, worker: Worker) -> None:
    run = uid()
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    codecs = ("none", "gzip", "snappy", "lz4", "zstd")
    for codec in codecs:
        publish(services.bootstrap, [meter(f"M-{run}-{codec}", at, 0.5)], compression=codec)
        publish(services.bootstrap, [[vehicle(f"V-{run}-{codec}", at, 0.4)]], compression=codec)
    wait_until(lambda: count(services.dsn, "meter_history", "meter_id", f"M-{run}-")
               + count(services.dsn, "vehicle_history", "vehicle_id", f"V-{run}-")
               == 2 * len(codecs), what="a reading of each codec")
    assert {row[0] for row in history(services.dsn, "meter_history", "meter_id",
                                      f"M-{run}-")} == {f"M-{run}-{c}" for c in codecs}


def test_readings_reach_history_and_live_exactly_once(services: Services, worker: Worker) -> None:
    run = uid()
    now = datetime.now(UTC).replace(microsecond=0)
    base = now - timedelta(hours=3)
    meters = [f"M-{run}-{i}" for i in range(6)]
    vehicles = [f"V-{run}-{i}" for i in range(6)]

    # Meters as single-reading messages, vehicles in both batch shapes; one old day too,
    # which lands in the default history partition.
    meter_readings = [meter(m, base + timedelta(minutes=k), 0.1 * (k + 1), 229 + k)
                      for m in meters for k in range(8)]
    meter_readings.append(meter(meters[0], datetime(2025, 3, 1, 12, tzinfo=UTC), 1.5))
    vehicle_readings = [vehicle(v, base + timedelta(minutes=k), 0.09 * (k + 1), 40 + k,
                                25 + k, meter_id=meters[i])
                        for i, v in enumerate(vehicles) for k in range(8)]
    bad_in_batch = [
        vehicle(vehicles[0], base, -1.0),  # negative energy
        {**vehicle(vehicles[1], base, 1.0), "colour": "red"},  # unknown field
        vehicle(vehicles[2], now + timedelta(minutes=30), 1.0),  # in the future
        {**vehicle(vehicles[3], base, 1.0), "soc": 101},  # soc above 100
    ]
    half = len(vehicle_readings) // 2
    messages: list[Any] = [*meter_readings,
                           [*vehicle_readings[:half], *bad_in_batch[:2]],
                           {"type": "batch", "readings": [*vehicle_readings[half:],
                                                          *bad_in_batch[2:]]}]
    bad_single = [f"not json {run}".encode(),
                  json.dumps(meter(meters[1], base, 1.0, voltage=0)).encode()]
    publish(services.bootstrap, [*messages, *bad_single])

    wait_until(lambda: count(services.dsn, "meter_history", "meter_id", f"M-{run}")
               == len(meter_readings)
               and count(services.dsn, "vehicle_history", "vehicle_id", f"V-{run}")
               == len(vehicle_readings), what="all valid readings in history")

    expected_meters = {(r["meterId"], datetime.fromisoformat(r["timestamp"]),
                        r["kwhConsumedAc"], r["voltage"]) for r in meter_readings}
    assert history(services.dsn, "meter_history", "meter_id", f"M-{run}") == expected_meters
    expected_vehicles = {(r["vehicleId"], datetime.fromisoformat(r["timestamp"]), r["soc"],
                          r["kwhDeliveredDc"], r["batteryTemp"], r["meterId"])
                         for r in vehicle_readings}
    assert history(services.dsn, "vehicle_history", "vehicle_id", f"V-{run}") == \
        expected_vehicles

    # Live: the newest reading of each device (the 2025 reading arrived last but is older).
    def live_meters() -> dict[str, Any]:
        return {r[0]: r[1:] for r in query(
            services.dsn, "SELECT meter_id, ts, kwh_consumed_ac, voltage FROM meter_live "
            "WHERE meter_id LIKE %s", (f"M-{run}%",))}

    newest = base + timedelta(minutes=7)
    assert live_meters() == {m: (newest, pytest.approx(0.8), 236.0) for m in meters}
    live_vehicles = query(services.dsn, "SELECT vehicle_id, ts, soc FROM vehicle_live "
                          "WHERE vehicle_id LIKE %s", (f"V-{run}%",))
    assert sorted(live_vehicles) == [(v, newest, 47.0) for v in vehicles]

    # Dead letters: every invalid input, with its reason and where it came from.
    dead = read_topic(services.bootstrap, "telemetry.dlq", lambda v: run.encode() in v,
                      expected=len(bad_in_batch) + len(bad_single))
    assert len(dead) == len(bad_in_batch) + len(bad_single)
    reasons = sorted(d["reason"] for d in dead)
    assert any(r.startswith("kwhDeliveredDc:") for r in reasons)
    assert any(r.startswith("colour: unknown field") for r in reasons)
    assert any(r.startswith("timestamp:") and "future" in r for r in reasons)
    assert any(r.startswith("soc:") for r in reasons)
    assert any(r.startswith("message: not valid JSON") for r in reasons)
    assert any(r.startswith("voltage:") for r in reasons)
    for d in dead:
        assert d["source"]["topic"] == "telemetry.raw"
        assert isinstance(d["source"]["partition"], int) and d["source"]["offset"] >= 0
    assert {d["index"] for d in dead if d["reason"].startswith("colour")} == {half + 1}
    assert f"not json {run}" in {d["original"] for d in dead}

    # Publishing the same readings again inserts nothing twice. Each device then gets one
    # newer reading on the same key (so the same partition, after the repeats): once those
    # arrive, the repeats have been processed.
    publish(services.bootstrap, [*meter_readings, *vehicle_readings])
    later = now - timedelta(minutes=1)
    publish(services.bootstrap, [meter(m, later, 0.5) for m in meters]
            + [vehicle(v, later, 0.4) for v in vehicles])
    wait_until(lambda: count(services.dsn, "meter_history", "meter_id", f"M-{run}")
               == len(meter_readings) + len(meters)
               and count(services.dsn, "vehicle_history", "vehicle_id", f"V-{run}")
               == len(vehicle_readings) + len(vehicles), what="the newer readings")
    assert history(services.dsn, "meter_history", "meter_id", f"M-{run}") == \
        expected_meters | {(m, later, 0.5, 230.0) for m in meters}
    assert {m: v[0] for m, v in live_meters().items()} == {m: later for m in meters}

    # Rollups count each inserted reading once: they equal an aggregate over the history.
    rollup = query(services.dsn, "SELECT meter_id, sum(kwh_consumed_ac), sum(readings) "
                   "FROM meter_hourly WHERE meter_id LIKE %s GROUP BY 1 ORDER BY 1",
                   (f"M-{run}%",))
    direct = query(services.dsn, "SELECT meter_id, sum(kwh_consumed_ac), count(*) "
                   "FROM meter_history WHERE meter_id LIKE %s GROUP BY 1 ORDER BY 1",
                   (f"M-{run}%",))
    assert [(m, pytest.approx(s), n) for m, s, n in rollup] == direct
