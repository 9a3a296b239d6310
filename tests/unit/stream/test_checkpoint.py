"""No silent dead agent: the router defends itself, and what escapes ends the worker loudly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from processor.domain.dead_letters import dead_letter
from processor.domain.validation import INTERNAL_ERROR
from processor.kafka.outbox import DeliveryError
from processor.stream import checkpoint, router


class Exited(BaseException):
    """What ``os._exit`` does in these tests: stops the code under test."""


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Exited

    monkeypatch.setattr(checkpoint.os, "_exit", fake_exit)
    return codes


def test_a_message_that_makes_validation_raise_becomes_an_internal_error_dead_letter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: bytes | None, **_: Any) -> Any:
        raise TypeError("unhashable type: 'list'")

    before = router.metrics.INTERNAL_ERRORS.labels("router")._value.get()
    monkeypatch.setattr(router, "validate_message", broken)
    outcome = router.judge(b'{"type": []}')
    assert outcome.lines == [] and len(outcome.rejections) == 1
    rejection = outcome.rejections[0]
    assert rejection.reason == INTERNAL_ERROR
    assert rejection.original == b'{"type": []}'
    record = json.loads(dead_letter(rejection, "telemetry.raw", 3, 17))
    assert record["reason"] == "internal error"
    assert record["errors"] == [{"field": "message",
                                 "message": "TypeError: unhashable type: 'list'"}]
    assert record["source"] == {"topic": "telemetry.raw", "partition": 3, "offset": 17}
    assert router.metrics.INTERNAL_ERRORS.labels("router")._value.get() == before + 1


def test_an_exception_escaping_an_agent_ends_the_worker_for_redelivery(exits: list[int]) -> None:
    @checkpoint.guarded("router")
    async def agent() -> None:
        raise KeyError("bug")

    with pytest.raises(Exited):
        asyncio.run(agent())
    assert exits == [checkpoint.EXIT_REDELIVER]


def test_cancellation_passes_through_the_guard(exits: list[int]) -> None:
    @checkpoint.guarded("router")
    async def agent() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(agent())
    assert exits == []


class Stream:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def ack(self, event: Any) -> None:
        self.log.append(f"ack {event}")


class Producer:
    def __init__(self, name: str, log: list[str], fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    async def flush(self) -> None:
        self.log.append(f"flush {self.name}")
        if self.fails:
            raise DeliveryError("records failed")


def test_a_checkpoint_flushes_every_producer_before_it_acks() -> None:
    log: list[str] = []
    outboxes = [Producer("routed", log), Producer("dead letters", log)]
    asyncio.run(checkpoint.checkpoint("router", Stream(log), [1, 2], outboxes))  # type: ignore
    assert log == ["flush routed", "flush dead letters", "ack 1", "ack 2"]


def test_a_checkpoint_whose_records_failed_acks_nothing_and_exits(exits: list[int]) -> None:
    log: list[str] = []
    outboxes = [Producer("changelog", log, fails=True), Producer("other", log)]
    with pytest.raises(Exited):
        asyncio.run(checkpoint.checkpoint("meter_writer", Stream(log), [1],
                                          outboxes))  # type: ignore[arg-type]
    assert log == ["flush changelog"] and exits == [checkpoint.EXIT_REDELIVER]


def test_a_timer_that_raises_is_logged_counted_and_runs_again(
        exits: list[int], caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    @checkpoint.timer_guarded("efficiency alerts")
    async def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a bad row in the alert query")

    counted = checkpoint.metrics.TIMER_ERRORS.labels("efficiency alerts")
    before = counted._value.get()
    asyncio.run(tick())
    asyncio.run(tick())  # the next period
    assert calls == [1, 1] and exits == []
    assert counted._value.get() == before + 1
    assert "timer efficiency alerts failed" in caplog.text
    assert "ValueError: a bad row in the alert query" in caplog.text  # the traceback


def test_a_cancelled_timer_is_cancelled_not_counted(exits: list[int]) -> None:
    @checkpoint.timer_guarded("progress log")
    async def tick() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(tick())
    assert exits == []
