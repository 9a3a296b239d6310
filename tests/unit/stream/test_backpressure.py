"""The gate holds raw partitions back with Faust's buffer flow control, which still delivers
the records in hand; ``pause_partitions`` would drop them and ack the hole (a loss)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

from processor.kafka import topics
from processor.stream.backpressure import ASK_EVERY, hold, next_offsets, register, release


class FakeConsumer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_buffer_full(self, tp: str) -> None:
        self.calls.append(("full", tp))

    def on_buffer_drop(self, tp: str) -> None:
        self.calls.append(("drop", tp))


def test_hold_and_release_use_the_buffer_flow_control() -> None:
    consumer = FakeConsumer()
    hold(consumer, {"raw-0"})
    release(consumer, {"raw-0"})
    assert consumer.calls == [("full", "raw-0"), ("drop", "raw-0")]


def test_faust_still_delivers_held_partitions_records_in_hand() -> None:
    # What the gate relies on (faust-streaming 0.15.3): a record of the fetch in hand is
    # delivered when its partition is active *or* held for a full buffer; a paused one is not.
    source = inspect.getsource(Consumer.getmany)
    assert "or tp in self._buffered_partitions" in source
    held = inspect.getsource(Consumer.on_buffer_full)
    assert "self._buffered_partitions.add(tp)" in held
    assert "active_partitions.discard(tp)" in held


class Offsets:
    def __init__(self) -> None:
        self._read_offset = {"m-0": 41, "m-1": None}
        self._committed_offset = {"m-0": 30, "m-1": 17}


def test_the_next_offset_is_after_the_last_read_else_the_committed_one() -> None:
    assert next_offsets(Offsets(), ["m-0", "m-1", "m-2"]) == {"m-0": 42, "m-1": 17,
                                                              "m-2": None}


# The timer (register): on the embedded broker a question (highwaters, earliest offsets) waits
# for the consumer's fetch in flight, up to BROKER_FETCH_MAX_WAIT_MS (100 ms), longer than a
# tick (50 ms); a tick that awaited it overlapped the next ones (mode warned on every ask).

METER = TP("energy.meter", 0)
RAW_0 = TP(topics.RAW, 0)


class Broker:
    """Faust's consumer on a broker whose answers wait for ``answer``."""

    def __init__(self, end: int) -> None:
        self.ends = {METER: end}
        self.asked: list[str] = []
        self.answer = asyncio.Event()
        self.held: set[TP] = set()
        self._read_offset: dict[TP, int] = {}
        self._committed_offset: dict[TP, int] = {}

    def assignment(self) -> set[TP]:
        return {METER, RAW_0}

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        self.asked.append("highwaters")
        await self.answer.wait()
        return {tp: self.ends[tp] for tp in tps}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        self.asked.append("earliest")
        await self.answer.wait()
        return dict.fromkeys(tps, 0)

    def on_buffer_full(self, tp: TP) -> None:
        self.held.add(tp)

    def on_buffer_drop(self, tp: TP) -> None:
        self.held.discard(tp)


class App:
    rebalancing = False
    in_recovery = False

    def __init__(self, consumer: Broker) -> None:
        self.consumer = consumer
        self.timers: list[Callable[[], Awaitable[None]]] = []

    def timer(self, interval: float) -> Callable[[Any], Any]:
        def add(fun: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            self.timers.append(fun)
            return fun
        return add

    def add_future(self, coro: Awaitable[None]) -> asyncio.Future[None]:
        return asyncio.ensure_future(coro)


class Topic:
    def get_topic_name(self) -> str:
        return METER.topic


class Watchdog:
    def __init__(self) -> None:
        self.progress = 0

    def progressed(self, agent: str) -> None:
        self.progress += 1


def gated(consumer: Broker) -> tuple[Callable[[], Awaitable[None]], Any]:
    p = SimpleNamespace(app=App(consumer), settings=SimpleNamespace(router_pause_lag=1),
                        routed={"meter": Topic()}, on_assignment=[], watchdog=Watchdog())
    register(p)  # type: ignore[arg-type]
    [tick] = p.app.timers
    return tick, p


async def ticks(tick: Callable[[], Awaitable[None]], n: int) -> None:
    """``n`` ticks, each of them done at once (a broker's answer would keep it waiting), and
    the look it started given the loop."""
    for _ in range(n):
        await asyncio.wait_for(tick(), 0.01)
        for _ in range(5):
            await asyncio.sleep(0)


def test_a_tick_never_waits_for_the_broker_and_one_look_at_a_time() -> None:
    async def scenario() -> None:
        consumer = Broker(end=10)  # 10 routed records waiting, nothing read yet
        tick, p = gated(consumer)
        await ticks(tick, 3 * ASK_EVERY)
        assert consumer.asked == ["highwaters"]  # one question in flight, not one a tick
        consumer.answer.set()
        await ticks(tick, 1)  # the look judges with the answer: the router is held
        assert consumer.asked == ["highwaters", "earliest"]
        assert consumer.held == {RAW_0}
        await ticks(tick, 3 * ASK_EVERY)  # held: looked at every tick, the broker not asked
        assert consumer.asked == ["highwaters", "earliest"]
        assert consumer.held == {RAW_0}
        assert p.watchdog.progress >= 3 * ASK_EVERY
        consumer._read_offset[METER] = 9  # the writers were handed the records that waited
        await ticks(tick, 1)
        assert consumer.held == set()  # resumed at the next tick
    asyncio.run(scenario())


def test_a_partitions_start_is_asked_once_per_assignment() -> None:
    async def scenario() -> None:
        consumer = Broker(end=0)  # idle: nothing read, nothing committed, nothing waiting
        consumer.answer.set()
        tick, p = gated(consumer)
        await ticks(tick, 3 * ASK_EVERY)
        assert consumer.asked == ["highwaters", "earliest"] + ["highwaters"] * 2
        for reset in p.on_assignment:
            reset()
        await ticks(tick, ASK_EVERY)
        assert consumer.asked[4:] == ["highwaters", "earliest"]
        assert consumer.held == set()
    asyncio.run(scenario())
