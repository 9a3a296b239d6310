"""The gate holds raw partitions back with Faust's buffer flow control, which still delivers
the records in hand; ``pause_partitions`` would drop them and ack the hole (a loss)."""

from __future__ import annotations

import inspect

from faust.transport.consumer import Consumer

from processor.stream.backpressure import hold, next_offsets, release


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
