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


def test_records_waiting_through_every_look_for_the_limit_with_no_progress_is_a_stall() -> None:
    clock = Clock()
    dog = Watchdog(AGENTS, 60, clock)
    clock.now += 30
    dog.progressed("router")
    dog.progressed("vehicle_writer")
    lags = {("telemetry.meter", 0): 0, ("telemetry.meter", 3): 12, ("telemetry.raw", 1): 500}
    assert dog.stalled(lags) == []  # the first look that sees them waiting
    for _ in range(11):
        clock.now += 5
        dog.progressed("router")  # the router moves on (it has records too, and takes them)
        assert dog.stalled(lags) == []
    clock.now += 5  # 60 s of looks finding meter_writer's records waiting, and no progress
    stalls = dog.stalled(lags)
    assert [(s.agent, s.topic, s.seconds, s.waiting, s.waited) for s in stalls] == [
        ("meter_writer", "telemetry.meter", 90.0, 12, 60.0)]
    assert stalls[0].describe() == ("agent meter_writer has made no progress for 90s while 12 "
                                    "records wait on telemetry.meter (waiting for 60s)")
    assert dog.stalls == stalls


def test_a_long_idle_agent_handed_a_burst_is_not_stalled() -> None:
    """The suite's false stalls: idle for minutes, then records arrive; the first looks see
    them waiting before the agent's first checkpoint. Not a stall: it goes to work."""
    clock = Clock()
    dog = Watchdog(AGENTS, 20, clock)
    clock.now += 113  # idle: nothing to do
    assert dog.stalled({("telemetry.meter", 0): 3}) == []  # a burst, seen at once
    clock.now += 0.4
    dog.progressed("meter_writer")  # its first batch checkpointed
    clock.now += 4.6
    assert dog.stalled({("telemetry.meter", 0): 2}) == []  # more came: it is moving
    clock.now += 5
    assert dog.stalled({("telemetry.meter", 0): 0}) == []
    assert dog.waiting_since == {}


def test_an_idle_agent_with_nothing_waiting_is_not_stalled() -> None:
    clock = Clock()
    dog = Watchdog(AGENTS, 60, clock)
    for _ in range(720):  # an hour of looks
        clock.now += 5
        assert dog.stalled({("telemetry.raw", 0): 0, ("telemetry.meter", 0): 0}) == []


def test_progress_and_a_rebalance_restart_the_clock() -> None:
    clock = Clock()
    dog = Watchdog(AGENTS, 60, clock)
    waiting = {("telemetry.meter", 0): 5}
    dog.stalled(waiting)
    clock.now += 59
    assert dog.stalled(waiting) == []
    dog.restart_clocks()  # a rebalance: nobody could progress, nobody is late
    clock.now += 2
    assert dog.stalled(waiting) == []
    clock.now += 59
    assert dog.stalled(waiting) == []
    clock.now += 1
    assert [s.agent for s in dog.stalled(waiting)] == ["meter_writer"]


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


def test_a_commit_waiting_at_a_hole_is_redelivered_even_while_its_agent_is_busy() -> None:
    clock = Clock()
    lost = LostRecords(15, clock)
    found = []
    for k in range(40):  # steady input: the partition's offsets move at every look
        behind_hole = Offsets(committed=12, read=100 + k, end=200 + k, acked_from=13)
        in_order = Offsets(committed=50 + k, read=60 + k, end=300, acked_from=50 + k)
        found += [(k, tp) for tp in lost.observe({"r0": behind_hole, "m0": in_order},
                                                   idle=lambda tp: False)]
        clock.now += 1
    assert found == [(15, ("r0", 12)), (30, ("r0", 12))]  # and again while it stays
    # a commit that moved on is a new wait, judged from then
    assert lost.observe({"r0": Offsets(committed=13, read=140, end=240, acked_from=14)},
                        idle=lambda tp: False) == []
    assert not Offsets(committed=12, read=20, end=30, acked_from=12).hole
    assert not Offsets(committed=None, read=20, end=30, acked_from=12).hole
