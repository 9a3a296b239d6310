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


def test_while_messages_await_their_ack_readings_gather_and_leave_when_one_is_acked() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher(ack_after=0.05)
        c = Coalescer(pub, "t", max_in_flight=2)  # type: ignore[arg-type]
        first = asyncio.ensure_future(c.publish(b"M0", reading(0)))  # idle: sent this turn
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(c.publish(b"M1", reading(1)))  # one slot left: sent
        await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(c.publish(None, reading(i))) for i in range(2, 12)]
        await asyncio.sleep(0.01)
        assert len(pub.sent) == 2  # both slots taken: the ten wait
        await asyncio.wait_for(asyncio.gather(first, second, *rest), timeout=2)
        return pub
    sent = asyncio.run(run()).sent
    assert sent[:2] == [[(b"M0", reading(0))], [(b"M1", reading(1))]]
    assert len(sent) == 3 and len(json.loads(sent[2][0][1])) == 10
