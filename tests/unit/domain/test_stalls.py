"""The stall watchdog's judgement: late and with work waiting is stalled; either alone is not."""

from __future__ import annotations

from processor.domain.stalls import LostRecords, Offsets, Watchdog, check_interval

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


def test_records_that_stay_put_while_their_agent_is_idle_are_redelivered_from_the_commit(
) -> None:
    clock = Clock()
    lost = LostRecords(15, clock)
    stuck = Offsets(committed=12, read=12, end=13)  # handed over, never acked
    unfetched = Offsets(committed=234, read=233, end=236)  # fetched, never handed over
    done = Offsets(committed=17, read=16, end=17)
    partitions = {"m0": stuck, "r0": unfetched, "m1": done}
    for _ in range(15):
        assert lost.observe(partitions, idle=lambda tp: True) == []
        clock.now += 1
    assert lost.observe(partitions, idle=lambda tp: True) == [("m0", 12), ("r0", 234)]
    # judged again only after another while, in case the redelivery has not moved them yet
    clock.now += 1
    assert lost.observe(partitions, idle=lambda tp: True) == []
    clock.now += 15
    assert lost.observe(partitions, idle=lambda tp: True) == [("m0", 12), ("r0", 234)]


def test_records_that_move_or_wait_on_a_busy_agent_are_not_redelivered() -> None:
    clock = Clock()
    lost = LostRecords(15, clock)
    for k in range(60):
        moving = Offsets(committed=100 + k, read=100 + k, end=200)  # a backlog worked off
        waiting = Offsets(committed=5, read=5, end=9)  # its agent is busy (a slow write)
        idle_now = k % 20 == 19  # the busy agent is between two batches now and then
        assert lost.observe({"m0": moving, "v0": waiting},
                            idle=lambda tp, idle_now=idle_now: tp != "v0" or idle_now) == []
        clock.now += 1


def test_a_new_group_a_finished_partition_and_a_new_assignment_are_not_judged() -> None:
    clock = Clock()
    lost = LostRecords(15, clock)
    for _ in range(20):
        new_group = Offsets(committed=None, read=None, end=40)
        caught_up = Offsets(committed=40, read=39, end=40)
        assert lost.observe({"a": new_group, "b": caught_up}, idle=lambda tp: True) == []
        clock.now += 1
    stuck = {"c": Offsets(committed=3, read=3, end=4)}
    for _ in range(10):
        assert lost.observe(stuck, idle=lambda tp: True) == []
        clock.now += 1
    lost.reset()
    for _ in range(10):
        assert lost.observe(stuck, idle=lambda tp: True) == []
        clock.now += 1
    assert lost.observe({}, idle=lambda tp: True) == [] and lost.since == {}
