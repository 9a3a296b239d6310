"""Single-reading POSTs arriving together are published as one array message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from processor.kafka.coalescer import Coalescer, plain_object


class FakePublisher:
    """Records what would be published; acks everything after ``ack_after`` seconds (a unit
    test of pure batching)."""

    def __init__(self, ack_after: float = 0.0) -> None:
        self.sent: list[list[tuple[bytes | None, bytes]]] = []
        self.ack_after = ack_after

    async def publish(self, topic: str, messages: Any) -> list[str | None]:
        self.sent.append(list(messages))
        await asyncio.sleep(self.ack_after)
        return [None] * len(messages)


def reading(i: int) -> bytes:
    return json.dumps({"meterId": f"M{i}", "kwhConsumedAc": 1, "voltage": 230,
                       "timestamp": "2026-02-10T19:00:00Z"}).encode()


def test_readings_arriving_together_leave_as_one_array() -> None:
    async def run() -> tuple[list[str | None], FakePublisher]:
        pub = FakePublisher()
        c = Coalescer(pub, "t", max_readings=500)  # type: ignore[arg-type]
        results = await asyncio.gather(*(c.publish(f"M{i}".encode(), reading(i))
                                         for i in range(20)))
        return list(results), pub
    results, pub = asyncio.run(run())
    assert results == [None] * 20
    assert len(pub.sent) == 1 and pub.sent[0][0][0] is None
    assert [r["meterId"] for r in json.loads(pub.sent[0][0][1])] == [f"M{i}" for i in range(20)]


def test_a_reading_alone_keeps_its_key_and_bytes() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher()
        c = Coalescer(pub, "t")  # type: ignore[arg-type]
        await c.publish(b"M1", reading(1))
        return pub
    assert asyncio.run(run()).sent == [[(b"M1", reading(1))]]


def test_the_size_bound_splits_batches() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher()
        c = Coalescer(pub, "t", max_readings=8)  # type: ignore[arg-type]
        await asyncio.gather(*(c.publish(None, reading(i)) for i in range(20)))
        return pub
    assert [len(json.loads(m[0][1])) if m[0][1].startswith(b"[") else 1
            for m in asyncio.run(run()).sent] == [8, 8, 4]


def test_only_plain_utf8_objects_are_spliced() -> None:
    assert plain_object(b' {"a": 1}')
    assert not plain_object('{"a": 1}'.encode("utf-16"))
    assert not plain_object(b'\xef\xbb\xbf{"a": 1}')


def sizes(pub: FakePublisher) -> list[int]:
    return [len(json.loads(m[0][1])) if m[0][1].startswith(b"[") else 1 for m in pub.sent]


def test_readings_wait_until_as_many_wait_as_await_their_ack() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher(ack_after=0.2)
        c = Coalescer(pub, "t")  # type: ignore[arg-type]
        first = [asyncio.ensure_future(c.publish(None, reading(i))) for i in range(4)]
        await asyncio.sleep(0.01)
        assert sizes(pub) == [4]  # idle: the four of this turn left at once, together
        more = [asyncio.ensure_future(c.publish(None, reading(i))) for i in range(4, 7)]
        await asyncio.sleep(0.01)
        assert sizes(pub) == [4]  # three wait while four await their ack
        last = asyncio.ensure_future(c.publish(None, reading(7)))
        await asyncio.sleep(0.01)
        assert sizes(pub) == [4, 4]  # four wait: they leave
        await asyncio.wait_for(asyncio.gather(*first, *more, last), timeout=2)
        return pub
    asyncio.run(run())


def test_an_ack_sends_what_waits() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher(ack_after=0.05)
        c = Coalescer(pub, "t")  # type: ignore[arg-type]
        first = [asyncio.ensure_future(c.publish(None, reading(i))) for i in range(4)]
        await asyncio.sleep(0.01)
        more = [asyncio.ensure_future(c.publish(None, reading(i))) for i in range(4, 6)]
        await asyncio.wait_for(asyncio.gather(*first, *more), timeout=2)
        return pub
    assert sizes(asyncio.run(run())) == [4, 2]


def arrivals(linger: float, gap: float, count: int) -> list[int]:
    """Readings posted one at a time ``gap`` seconds apart to a coalescer that lingers up to
    ``linger``: how many readings each message held."""
    async def run() -> FakePublisher:
        pub = FakePublisher(ack_after=0.001)
        c = Coalescer(pub, "t", max_readings=500, linger=linger)  # type: ignore[arg-type]
        posted = []
        for i in range(count):
            posted.append(asyncio.ensure_future(c.publish(f"M{i}".encode(), reading(i))))
            await asyncio.sleep(gap)
        await asyncio.gather(*posted)
        return pub
    return [len(json.loads(m[0][1])) if m[0][1].startswith(b"[") else 1
            for m in asyncio.run(run()).sent]


def test_readings_that_keep_coming_wait_up_to_the_linger_and_leave_together() -> None:
    sizes = arrivals(linger=0.02, gap=0.001, count=200)  # ~20 a linger once warmed up
    assert sum(sizes) == 200
    assert max(sizes) >= 10 and len(sizes) <= 40


def test_an_idle_gateway_sends_each_reading_at_once() -> None:
    sizes = arrivals(linger=0.02, gap=0.05, count=6)  # one every 50 ms: nothing to wait for
    assert sizes == [1] * 6


def test_no_linger_keeps_the_rule_before() -> None:
    sizes = arrivals(linger=0.0, gap=0.001, count=50)
    assert sum(sizes) == 50 and max(sizes) <= 3  # one at a time, spread out: as before
