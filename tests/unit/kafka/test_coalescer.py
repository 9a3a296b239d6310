"""Single-reading POSTs arriving together are published as one array message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from processor.kafka.coalescer import Coalescer, plain_object


class FakePublisher:
    """Records what would be published; acks everything (a unit test of pure batching)."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[bytes | None, bytes]]] = []

    async def publish(self, topic: str, messages: Any) -> list[str | None]:
        self.sent.append(list(messages))
        await asyncio.sleep(0)
        return [None] * len(messages)


def reading(i: int) -> bytes:
    return json.dumps({"meterId": f"M{i}", "kwhConsumedAc": 1, "voltage": 230,
                       "timestamp": "2026-02-10T19:00:00Z"}).encode()


def test_readings_arriving_together_leave_as_one_array() -> None:
    async def run() -> tuple[list[str | None], FakePublisher]:
        pub = FakePublisher()
        c = Coalescer(pub, "t", max_readings=500, max_wait=0.01)  # type: ignore[arg-type]
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
        c = Coalescer(pub, "t", max_wait=0.001)  # type: ignore[arg-type]
        await c.publish(b"M1", reading(1))
        return pub
    assert asyncio.run(run()).sent == [[(b"M1", reading(1))]]


def test_the_size_bound_splits_batches() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher()
        c = Coalescer(pub, "t", max_readings=8, max_wait=0.01)  # type: ignore[arg-type]
        await asyncio.gather(*(c.publish(None, reading(i)) for i in range(20)))
        return pub
    assert [len(json.loads(m[0][1])) if m[0][1].startswith(b"[") else 1
            for m in asyncio.run(run()).sent] == [8, 8, 4]


def test_only_plain_utf8_objects_are_spliced() -> None:
    assert plain_object(b' {"a": 1}')
    assert not plain_object('{"a": 1}'.encode("utf-16"))
    assert not plain_object(b'\xef\xbb\xbf{"a": 1}')


def test_a_quiet_turn_of_the_loop_sends_without_waiting_out_max_wait() -> None:
    async def run() -> FakePublisher:
        pub = FakePublisher()
        c = Coalescer(pub, "t", max_wait=30.0)  # type: ignore[arg-type]
        # arriving together, then nothing: sent at once, not after 30 s
        await asyncio.wait_for(asyncio.gather(*(c.publish(None, reading(i))
                                                for i in range(5))), timeout=2)
        return pub
    sent = asyncio.run(run()).sent
    assert len(sent) == 1 and len(json.loads(sent[0][0][1])) == 5
