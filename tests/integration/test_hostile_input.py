"""Hostile input: whatever lands on telemetry.raw, the worker survives and accounts for it.

Every message ends in the history or the dead-letter topic, and the counts add up exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.domain.validation import validate_message
from processor.kafka.topics import ensure_topics
from processor.ops.embedded import EmbeddedBroker
from tests.conftest import APP_ID, PARTITIONS, Services
from tests.helpers import (
    Worker,
    http_json,
    publish,
    query,
    read_topic,
    start_worker,
    uid,
    wait_until,
)

pytestmark = pytest.mark.integration


@dataclass
class Target:
    bootstrap: str
    dsn: str
    worker: Worker
    dead_letters: int = 0  # rejections published so far: the DLQ must hold exactly this many


@pytest.fixture(scope="module")
def target(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp = tmp_path_factory.mktemp("hostile")
    broker = EmbeddedBroker.start(tmp)
    ensure_topics(broker.bootstrap, APP_ID, PARTITIONS)
    worker = start_worker(broker.bootstrap, services.dsn, Path(tmp),
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    try:
        yield Target(broker.bootstrap, services.dsn, worker)
    finally:
        worker.stop()
        broker.stop()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
# Mostly plausible values, so that plenty of readings are valid, with every kind of junk too.
PLAUSIBLE = st.floats(min_value=0, max_value=100) | st.integers(1, 100)
NUMBER = st.one_of(PLAUSIBLE, PLAUSIBLE, PLAUSIBLE, PLAUSIBLE, PLAUSIBLE,
                   st.floats(min_value=-10, max_value=3000), st.integers(-5, 3000),
                   st.just(float("nan")), st.just(float("inf")), st.text(max_size=4),
                   st.none(), st.booleans())
GOOD_TIME = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 1, 1),
                         timezones=st.just(UTC)).map(
    lambda t: t.isoformat().replace("+00:00", "Z"))
TIMESTAMP = st.one_of(
    GOOD_TIME, GOOD_TIME, GOOD_TIME, GOOD_TIME,
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2026, 1, 1)).map(
        lambda t: t.isoformat()),  # no zone: invalid
    st.text(max_size=12), st.integers(), st.just("2999-01-01T00:00:00Z"))


def readings(run: str) -> st.SearchStrategy[dict[str, Any]]:
    ident = st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)
    meter = st.fixed_dictionaries(
        {"meterId": ident.map(lambda s: f"MH{run}-{s}"), "kwhConsumedAc": NUMBER,
         "voltage": NUMBER, "timestamp": TIMESTAMP},
        optional={"type": st.sampled_from(["meter", "meter", "vehicle", "gas"]) | JSON,
                  "extra": JSON})
    vehicle = st.fixed_dictionaries(
        {"vehicleId": ident.map(lambda s: f"VH{run}-{s}"), "soc": NUMBER,
         "kwhDeliveredDc": NUMBER, "batteryTemp": NUMBER, "timestamp": TIMESTAMP},
        optional={"meterId": st.one_of(ident, st.text(max_size=3), JSON),
                  "type": st.just("vehicle") | JSON})
    return meter | vehicle


def valid_messages(run: str) -> st.SearchStrategy[bytes]:
    ident = st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)
    kwh = st.floats(min_value=0, max_value=50)
    meter = st.fixed_dictionaries(
        {"meterId": ident.map(lambda s: f"MH{run}-{s}"), "kwhConsumedAc": kwh,
         "voltage": st.floats(min_value=1, max_value=400), "timestamp": GOOD_TIME})
    vehicle = st.fixed_dictionaries(
        {"vehicleId": ident.map(lambda s: f"VH{run}-{s}"), "soc": st.floats(0, 100),
         "kwhDeliveredDc": kwh, "batteryTemp": st.floats(-20, 60), "timestamp": GOOD_TIME})
    one = meter | vehicle
    return (one | st.lists(one, min_size=1, max_size=5)).map(lambda v: json.dumps(v).encode())


def messages(run: str) -> st.SearchStrategy[bytes]:
    one = readings(run)
    as_json = st.one_of(one, one, st.lists(one, max_size=6),
                        st.lists(one, max_size=6).map(lambda r: {"type": "batch",
                                                                 "readings": r}),
                        st.fixed_dictionaries({"type": JSON, "readings": JSON}),
                        JSON)
    return st.one_of(st.binary(max_size=64),
                     as_json.map(lambda v: json.dumps(v).encode()),
                     as_json.map(lambda v: json.dumps(v).encode()[:-3]))  # truncated


def history(dsn: str, run: str) -> set[tuple[str, datetime]]:
    rows = query(dsn, "SELECT meter_id, ts FROM meter_history WHERE meter_id LIKE %s",
                 (f"MH{run}-%",))
    rows += query(dsn, "SELECT vehicle_id, ts FROM vehicle_history WHERE vehicle_id LIKE %s",
                  (f"VH{run}-%",))
    return set(rows)  # type: ignore[arg-type]


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_worker_survives_hostile_input_and_every_message_is_accounted_for(
        target: Target, data: st.DataObject) -> None:
    run = uid()
    batch = data.draw(st.lists(valid_messages(run), min_size=15, max_size=30))
    batch += data.draw(st.lists(messages(run), min_size=20, max_size=40))
    batch = data.draw(st.permutations(batch))
    now = datetime.now(UTC)
    expected_rows: set[tuple[str, datetime]] = set()
    rejections = 0
    for raw in batch:
        outcome = validate_message(raw, now)
        rejections += len(outcome.rejections)
        expected_rows |= {(r.device_id, r.timestamp) for r in outcome.readings}
    assert expected_rows and rejections
    publish(target.bootstrap, batch)
    target.dead_letters += rejections

    wait_until(lambda: history(target.dsn, run) == expected_rows, timeout=60,
               what="the valid readings in history")
    dead = read_topic(target.bootstrap, "telemetry.dlq", lambda _v: True,
                      expected=target.dead_letters, timeout=60)
    assert len(dead) == target.dead_letters
    assert all(d["reason"] and d["source"]["topic"] == "telemetry.raw" for d in dead)
    assert target.worker.proc.poll() is None, target.worker.log()[-3000:]


POISON = [b'{"type": [], "meterId": "M1"}', b'{"type": {"batch": true}, "vehicleId": "V1"}',
          b'{"type": "batch", "readings": [{"type": [1]}]}', b'{"meterId": ' + b"7" * 5000 + b"}"]


def test_a_message_whose_type_is_a_list_stops_nothing(target: Target) -> None:
    """Issue 17: one such message stopped all ingestion (0 of 200 later readings stored)."""
    run = uid()
    publish(target.bootstrap, POISON)
    target.dead_letters += len(POISON)
    later = [{"meterId": f"MH{run}-{i % 20}", "kwhConsumedAc": 0.5, "voltage": 230.0,
              "timestamp": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z"} for i in range(200)]
    publish(target.bootstrap, later)
    wait_until(lambda: len(history(target.dsn, run)) == 200, timeout=60,
               what="the 200 readings published after the poison messages")
    dead = read_topic(target.bootstrap, "telemetry.dlq", lambda _v: True,
                      expected=target.dead_letters, timeout=60)
    assert len(dead) == target.dead_letters
    poisoned = {d["original"] for d in dead if d["source"]["topic"] == "telemetry.raw"}
    assert {POISON[0].decode(), POISON[1].decode(), POISON[3].decode()} <= poisoned
    assert all(d["reason"] != "internal error" for d in dead)  # judged, not crashed on
    for body in POISON:  # the same bodies over HTTP: a 4xx naming the problem
        status, answer = http_json(f"{target.worker.url}/v1/telemetry", "POST", body)
        assert 400 <= status < 500 and answer["accepted"] == 0, (body[:40], status, answer)
    assert target.worker.proc.poll() is None, target.worker.log()[-3000:]
