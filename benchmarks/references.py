"""References on the same input: the engine's ceiling (a bare Faust agent that only counts),
what a newcomer writes (a consumer inserting row by row), the database's ceiling (COPY)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from benchmarks.env import Stack, log
from benchmarks.fleet_input import Input, Message
from benchmarks.kafka import Publisher
from benchmarks.stats import rate
from benchmarks.workers import ROOT, peak_rss_mb, stop_process
from processor.domain.copy_rows import HEADER, TRAILER
from processor.domain.kinds import METER, VEHICLE
from processor.kafka.security import client_config
from processor.kafka.topics import RAW

# --- the bare Faust agent -------------------------------------------------------------------


def faust_ceiling(stack: Stack, messages: list[Message], partitions: int,
                  timeout: float = 300) -> dict[str, Any]:
    """Events/s of a Faust agent that only counts, from the first publish to the last event."""
    with stack.scenario("faust", partitions) as sc:
        out = sc.directory / "counter"
        out.mkdir()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": sc.bootstrap, "APP_ID": sc.app_id,
               "TELEMETRY_PARTITIONS": str(partitions), "BENCH_OUT": str(out),
               "BENCH_EXPECT": str(len(messages) + 1), "BENCH_TOPIC": RAW}
        with open(sc.directory / "counter.log", "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.faust_counter"],
                                    env=env, cwd=ROOT, stdout=log_file,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            publisher = Publisher(sc.bootstrap)
            sc.on_close(publisher.close)
            started = time.monotonic()
            key, value = messages[0]
            publisher.send([(key, value)])  # the probe: counted once the agent is assigned
            _wait_file(out / "ready", proc, 90)
            log(f"faust: bare counting agent ready in {time.monotonic() - started:.1f}s; "
                f"publishing {len(messages):,} single-reading messages")
            t0 = time.time()
            publisher.send(messages)
            done = float(_wait_file(out / "done", proc, timeout))
            seconds = done - t0
            peak = peak_rss_mb(proc.pid)
        finally:
            stop_process(proc, 20)
    result = {"messages": len(messages), "seconds": round(seconds, 3),
              "events_per_s": rate(len(messages), seconds), "peak_rss_mb": peak}
    log(f"faust: {len(messages):,} events in {seconds:.2f}s = "
        f"{result['events_per_s']:,.0f} events/s")
    return result


def _wait_file(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()):
            return text
        if proc.poll() is not None:
            raise RuntimeError(f"faust counter exited with {proc.returncode}")
        time.sleep(0.01)
    raise TimeoutError(f"faust counter: no {path.name} within {timeout}s")




# --- the naive consumer ---------------------------------------------------------------------

NAIVE_METER = [
    """INSERT INTO meter_history (meter_id, ts, kwh_consumed_ac, voltage)
       VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING""",
    """INSERT INTO meter_live AS l (meter_id, ts, kwh_consumed_ac, voltage)
       VALUES (%s, %s, %s, %s) ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts,
       kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage
       WHERE l.ts < EXCLUDED.ts""",
    """INSERT INTO meter_hourly AS h (meter_id, hour, kwh_consumed_ac, readings)
       VALUES (%s, date_trunc('hour', %s::timestamptz), %s, 1)
       ON CONFLICT (meter_id, hour) DO UPDATE SET
       kwh_consumed_ac = h.kwh_consumed_ac + EXCLUDED.kwh_consumed_ac,
       readings = h.readings + 1""",
]
NAIVE_VEHICLE = [
    """INSERT INTO vehicle_history (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp,
       meter_id) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
    """INSERT INTO vehicle_live AS l (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp,
       meter_id) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (vehicle_id) DO UPDATE SET
       ts = EXCLUDED.ts, soc = EXCLUDED.soc, kwh_delivered_dc = EXCLUDED.kwh_delivered_dc,
       battery_temp = EXCLUDED.battery_temp, meter_id = EXCLUDED.meter_id
       WHERE l.ts < EXCLUDED.ts""",
    """INSERT INTO vehicle_hourly AS h (vehicle_id, hour, kwh_delivered_dc, battery_temp_sum,
       battery_temp_count, readings)
       VALUES (%s, date_trunc('hour', %s::timestamptz), %s, %s, 1, 1)
       ON CONFLICT (vehicle_id, hour) DO UPDATE SET
       kwh_delivered_dc = h.kwh_delivered_dc + EXCLUDED.kwh_delivered_dc,
       battery_temp_sum = h.battery_temp_sum + EXCLUDED.battery_temp_sum,
       battery_temp_count = h.battery_temp_count + 1, readings = h.readings + 1""",
]


def naive(stack: Stack, messages: list[Message], partitions: int) -> dict[str, Any]:
    """What a newcomer writes: poll, parse, and one transaction of three statements (history,
    live, hourly rollup) per reading. Timed from the first publish to the last commit."""
    with stack.scenario("naive", partitions) as sc:
        publisher = Publisher(sc.bootstrap)
        sc.on_close(publisher.close)
        consumer = Consumer(client_config(sc.bootstrap, **{
            "group.id": sc.app_id, "enable.auto.commit": True, "session.timeout.ms": 6000}))
        consumer.assign([TopicPartition(RAW, p, -2) for p in range(partitions)])  # beginning
        conn = psycopg.connect(sc.dsn, options="-c TimeZone=UTC")
        try:
            log(f"naive: row-by-row consumer, {len(messages):,} single-reading messages")
            t0 = time.monotonic()
            publisher.send(messages)
            done = 0
            deadline = t0 + 600
            while done < len(messages) and time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    continue
                reading = json.loads(msg.value() or b"null")
                with conn.transaction():
                    if "vehicleId" in reading:
                        vid, ts = reading["vehicleId"], reading["timestamp"]
                        dc, temp = reading["kwhDeliveredDc"], reading["batteryTemp"]
                        vrow = (vid, ts, reading["soc"], dc, temp, reading.get("meterId"))
                        conn.execute(NAIVE_VEHICLE[0], vrow)
                        conn.execute(NAIVE_VEHICLE[1], vrow)
                        conn.execute(NAIVE_VEHICLE[2], (vid, ts, dc, temp))
                    else:
                        mid, ts, ac = reading["meterId"], reading["timestamp"], \
                            reading["kwhConsumedAc"]
                        row = (mid, ts, ac, reading["voltage"])
                        conn.execute(NAIVE_METER[0], row)
                        conn.execute(NAIVE_METER[1], row)
                        conn.execute(NAIVE_METER[2], (mid, ts, ac))
                done += 1
            seconds = time.monotonic() - t0
        finally:
            conn.close()
            consumer.close()
    result = {"readings": done, "seconds": round(seconds, 3),
              "readings_per_s": rate(done, seconds)}
    log(f"naive: {done:,} readings in {seconds:.2f}s = {result['readings_per_s']:,.0f} "
        "readings/s")
    return result


# --- COPY -----------------------------------------------------------------------------------

COPY_TABLES = {
    "meter": """CREATE TABLE copy_meter_history (
        meter_id text NOT NULL, ts timestamptz NOT NULL, kwh_consumed_ac double precision
        NOT NULL, voltage double precision NOT NULL, PRIMARY KEY (meter_id, ts))""",
    "vehicle": """CREATE TABLE copy_vehicle_history (
        vehicle_id text NOT NULL, ts timestamptz NOT NULL, soc double precision NOT NULL,
        kwh_delivered_dc double precision NOT NULL, battery_temp double precision NOT NULL,
        meter_id text, PRIMARY KEY (vehicle_id, ts))""",
}


def copy_rows(data: Input) -> dict[str, bytes]:
    """The rows in binary COPY format (what the writers copy), encoded before timing."""
    meters: list[tuple[Any, ...]] = []
    vehicles: list[tuple[Any, ...]] = []
    for r in data.readings:
        if "vehicleId" in r:
            vehicles.append((r["vehicleId"], r["timestamp"], r["soc"], r["kwhDeliveredDc"],
                             r["batteryTemp"], r.get("meterId")))
        else:
            meters.append((r["meterId"], r["timestamp"], r["kwhConsumedAc"], r["voltage"]))
    return {"meter": HEADER + METER.encode_rows(meters) + TRAILER,
            "vehicle": HEADER + VEHICLE.encode_rows(vehicles) + TRAILER}


def copy(stack: Stack, data: Input, chunk: int = 1 << 20) -> dict[str, Any]:
    """COPY (binary, as the writers do since note 30; text before) of the same rows into fresh
    tables shaped like the history tables (primary key (id, ts)), in one transaction."""
    payload = copy_rows(data)
    with stack.database("copy") as dsn, psycopg.connect(dsn, options="-c TimeZone=UTC") as conn:
        for sql in COPY_TABLES.values():
            conn.execute(sql)  # type: ignore[arg-type]
        conn.commit()
        t0 = time.monotonic()
        with conn.cursor() as cur:
            for kind, copied in payload.items():
                with cur.copy(f"COPY copy_{kind}_history FROM STDIN (FORMAT binary)") as cp:  # type: ignore[arg-type]
                    for start in range(0, len(copied), chunk):
                        cp.write(copied[start:start + chunk])
        conn.commit()
        seconds = time.monotonic() - t0
        rows = conn.execute("SELECT (SELECT count(*) FROM copy_meter_history) + "
                            "(SELECT count(*) FROM copy_vehicle_history)").fetchone()
    count = int(rows[0]) if rows else 0
    result = {"rows": count, "seconds": round(seconds, 3), "rows_per_s": rate(count, seconds),
              "format": "binary"}
    log(f"copy: {count:,} rows in {seconds:.2f}s = {result['rows_per_s']:,.0f} rows/s")
    return result
