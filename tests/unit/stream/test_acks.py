"""Which acks count on the agents' topics (processor/stream/faust_fixes.py, adjustment 7), with
Faust's real stream, channel, queue and consumer bookkeeping, and no broker.

The race is played step by step: an agent's queue full, the conductor waiting to put the next
record, the agent taking one (which wakes the waiting put), and a rebalance emptying the queue
before the put runs. The woken put then lands its record in the emptied queue, and the stream
skips it unprocessed. Faust's pure-Python stream iterator acks the skipped record, which lets a
commit pass it; its compiled iterator does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import faust
import faust.streams
import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from processor.stream import faust_fixes, metrics
from processor.stream.checkpoint import checkpoint

RAW = "telemetry.raw"  # an agent's topic: gapless once adjustment 4 is installed for it
OTHER = "some.other.topic"  # not an agent's topic: Faust's own rules


@pytest.fixture(params=["compiled", "pure-Python"])
def iterator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Faust's stream iterator: the compiled one (the wheel's extension, used here) or the
    pure-Python one (``NO_CYTHON=1``, or a platform without the extension)."""
    if request.param == "pure-Python":
        monkeypatch.setattr(faust.streams, "_CStreamIterator", None)
    else:
        assert faust.streams._CStreamIterator is not None, "the wheel's compiled iterator"
    yield request.param


def new_app() -> faust.App:
    """An app built in the running loop, with adjustments 4 and 7 installed for ``RAW``."""
    faust_fixes.commits_stop_at_a_missing_record({RAW})
    faust_fixes.acks_mean_processed()
    app = faust.App("acks-test", broker="kafka://127.0.0.1:1", store="memory://",
                    stream_buffer_maxsize=1)
    app.flow_control.resume()  # as a running worker's
    return app


def record(app: faust.App, topic: str, offset: int) -> faust.Event:
    message = ConsumerMessage(topic, 0, offset, 0.0, 0, {}, b"k", b"v", None,
                              generation_id=app.consumer_generation_id)
    message.incref(1)  # one channel subscribes, as the conductor counts
    return faust.Event(app, b"k", b"v", {}, message)


class Agent:
    """A noack stream over ``topic`` (as the router's and writers' are), holding each record
    it takes until ``release``."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self.topic = app.topic(topic, value_type=bytes, value_serializer="raw")
        self.stream = app.stream(self.topic).noack()
        app.topics.acking_topics.add(topic)  # as the conductor marks a worker's topics
        self.taken: list[Any] = []
        self.gate = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async for _ in self.stream:
            self.taken.append(self.stream.current_event)
            await self.gate.wait()

    async def release(self) -> None:
        self.gate.set()
        await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.task.cancel()


async def rebalance_race(app: faust.App, topic: str) -> AsyncIterator[Any]:
    """Play the race; yields the queue right after it, then the agent once it has run on."""
    agent = Agent(app, topic)
    try:
        await asyncio.sleep(0.01)
        (channel,) = agent.topic._subscribers  # the stream's: the one the conductor fills
        queue = channel.queue
        await channel.put(record(app, topic, 3))  # the agent takes 3 and works on it
        await asyncio.sleep(0.01)
        queue.put_nowait(record(app, topic, 4))  # the queue is full
        put = asyncio.ensure_future(channel.put(record(app, topic, 5)))  # the conductor waits
        await asyncio.sleep(0)
        assert not put.done()
        queue.get_nowait()  # the agent takes 4: the waiting put is woken, not yet run
        app.flow_control.suspend()  # a rebalance starts (Faust's _on_partitions_revoked)
        app.flow_control.clear()  # and empties the agents' queues
        await asyncio.sleep(0)
        yield queue
        await agent.release()  # the agent goes on: the stream takes 5 and skips it
        yield agent
    finally:
        agent.stop()


async def race(app: faust.App, topic: str) -> tuple[list[Any], Any]:
    steps = rebalance_race(app, topic)
    queue = await anext(steps)
    after_clear = [event.message.offset for event in queue._queue]
    agent = await anext(steps)
    await steps.aclose()
    return after_clear, agent


def acked(app: faust.App, topic: str) -> list[int]:
    return list(app.consumer._acked[TP(topic, 0)])


def test_a_put_woken_before_a_rebalance_empties_the_queue_lands_after_it(iterator: str) -> None:
    async def play() -> None:
        after_clear, agent = await race(new_app(), RAW)
        assert after_clear == [5]  # in the queue the rebalance has just emptied
        assert [event.message.offset for event in agent.taken] == [3]  # 5 skipped, unprocessed
    asyncio.run(play())


def test_faust_alone_acks_the_skipped_record_under_the_pure_python_iterator(
        iterator: str) -> None:
    async def play() -> None:
        app = new_app()
        app.consumer._committed_offset[TP(OTHER, 0)] = 5  # 3, 4 are the agent's; 5 the head
        await race(app, OTHER)
        # pure-Python: 5 counted as done, and a commit moves to 6, past a record never processed
        assert acked(app, OTHER) == ([5] if iterator == "pure-Python" else [])
    asyncio.run(play())


def test_on_an_agents_topic_only_an_agents_ack_counts(iterator: str) -> None:
    refused = metrics.UNPROCESSED_ACKS.labels(RAW)
    before = refused._value.get()

    async def play() -> None:
        app = new_app()
        app.consumer._committed_offset[TP(RAW, 0)] = 3
        _, agent = await race(app, RAW)
        assert acked(app, RAW) == []  # 5 is not acked: the commit waits for it
        await checkpoint("router", agent.stream, agent.taken, ())  # the agent stored 3
        assert acked(app, RAW) == [3]
    asyncio.run(play())
    assert refused._value.get() - before == (1 if iterator == "pure-Python" else 0)
