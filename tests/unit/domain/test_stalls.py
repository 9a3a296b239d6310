"""The stall watchdog's judgement: late and with work waiting is stalled; either alone is not."""

from __future__ import annotations

from processor.domain.stalls import Watchdog, check_interval

AGENTS = {"router": "telemetry.raw", "meter_writer": "telemetry.meter",
          "vehicle_writer": "telemetry.vehicle"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_agent_late_with_records_waiting_is_stalled() -> None:
    clock = Clock()
    dog = Watchdog(AGENTS, 60, clock)
    clock.now += 30
    dog.progressed("router")
    dog.progressed("vehicle_writer")
    clock.now += 45  # meter_writer: 75 s without progress; the others 45 s
    lags = {("telemetry.meter", 0): 0, ("telemetry.meter", 3): 12, ("telemetry.raw", 1): 500}
    stalls = dog.stalled(lags)
    assert [(s.agent, s.topic, s.seconds, s.waiting) for s in stalls] == [
        ("meter_writer", "telemetry.meter", 75.0, 12)]
    assert stalls[0].describe() == ("agent meter_writer has made no progress for 75s while 12 "
                                    "records wait on telemetry.meter")
    assert dog.stalls == stalls


def test_an_idle_agent_with_nothing_waiting_is_not_stalled() -> None:
    clock = Clock()
    dog = Watchdog(AGENTS, 60, clock)
    clock.now += 3600
    assert dog.idle_too_long() == ["router", "meter_writer", "vehicle_writer"]
    assert dog.stalled({("telemetry.raw", 0): 0, ("telemetry.meter", 0): 0}) == []


def test_progress_and_a_rebalance_restart_the_clock() -> None:
    clock = Clock()
    dog = Watchdog(AGENTS, 60, clock)
    clock.now += 59
    assert dog.idle_too_long() == []
    clock.now += 2
    dog.progressed("router")  # a batch checkpointed, or a writer's retry while the DB is away
    assert dog.idle_too_long() == ["meter_writer", "vehicle_writer"]
    dog.restart_clocks()
    assert dog.idle_too_long() == []
    assert dog.stalled({("telemetry.meter", 0): 5}) == []


def test_the_watchdog_looks_often_enough_for_short_and_long_limits() -> None:
    assert check_interval(60) == 5.0
    assert check_interval(3) == 0.75
    assert check_interval(0.1) == 0.25
