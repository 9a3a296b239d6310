"""What a writer does with each kind of database error (db/errors.py), and what /readyz and
the stall watchdog make of a permanent one."""

from __future__ import annotations

import psycopg.errors as e
import pytest

from db.errors import MISSING_PARTITION, classify
from processor.domain.stalls import Watchdog


@pytest.mark.parametrize(("exc", "kind"), [
    (e.AdminShutdown("terminating connection"), "transient"),
    (e.SerializationFailure("could not serialize"), "transient"),
    (e.DiskFull("could not extend file: No space left on device"), "permanent"),
    (e.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
     "permanent"),
    (e.UndefinedTable('relation "meter_stage" does not exist'), "permanent"),
    (e.CheckViolation('no partition of relation "meter_history" found for row'), "permanent"),
    (e.CheckViolation('new row violates check constraint "voltage_cap"'), "refused"),
    (e.NumericValueOutOfRange("value out of range"), "refused"),
    (e.NotNullViolation("null value in column"), "refused"),
    (e.SyntaxError("syntax error at or near"), None),
])
def test_each_database_error_has_its_kind(exc: BaseException, kind: str | None) -> None:
    assert classify(exc)[0] == kind


def test_a_permanent_condition_is_named_for_the_operator() -> None:
    assert classify(e.DiskFull("x"))[1] == "the database's disk is full"
    assert classify(e.CheckViolation('no partition of relation "x" found for row'))[1] == \
        MISSING_PARTITION


def test_a_writer_waiting_on_a_full_disk_is_degraded_not_stalled() -> None:
    now = [0.0]
    dog = Watchdog({"meter_writer": "telemetry.meter"}, 20.0, clock=lambda: now[0])
    dog.degraded("meter_writer", "the database's disk is full")
    waiting = {("telemetry.meter", 0): 5}
    for _ in range(20):  # 100 s of looks: restarting would not free the disk
        now[0] += 5
        assert dog.stalled(waiting) == []
    assert dog.conditions == {"meter_writer": "the database's disk is full"}
    dog.degraded("meter_writer", None)
    assert dog.conditions == {}
    for _ in range(4):
        now[0] += 5
        assert dog.stalled(waiting) == []
    now[0] += 5
    assert [s.agent for s in dog.stalled(waiting)] == ["meter_writer"]  # a real stall again
