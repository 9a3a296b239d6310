"""No record skipped after a rebalance: each partition's first record is at its committed
offset (processor/stream/offsets.py)."""

from __future__ import annotations

from processor.stream.offsets import FirstOffsets, committed_offset


class Consumer:
    def __init__(self, committed: dict[str, int | None]) -> None:
        self._committed_offset = committed


def test_a_partition_resuming_past_its_committed_offset_is_a_skip() -> None:
    consumer = Consumer({"meter-0": 1, "meter-1": 7, "meter-2": None, "meter-3": 0})
    first = FirstOffsets(committed_offset(lambda: consumer))
    assert first.skipped("meter-0", 2) == 1  # offset 1 never came: skipped
    assert first.skipped("meter-1", 7) is None  # resumed where it should
    assert first.skipped("meter-1", 9) is None  # later records are not first records
    assert first.skipped("meter-2", 5) is None  # nothing committed: nothing to compare
    assert first.skipped("meter-3", 5) is None  # 0: a new partition, read from its start
    assert first.skipped("meter-4", 3) is None  # unknown to the consumer


def test_every_assignment_starts_the_check_again() -> None:
    consumer = Consumer({"meter-0": 4})
    first = FirstOffsets(committed_offset(lambda: consumer))
    assert first.skipped("meter-0", 4) is None
    consumer._committed_offset["meter-0"] = 10  # acked, committed, then a rebalance
    first.reset()
    assert first.skipped("meter-0", 12) == 10
