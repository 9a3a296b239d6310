"""When should the router stop taking raw messages so the writers keep pace? The judgement,
pure; ``processor/stream/backpressure.py`` feeds it the lag and pauses ``telemetry.raw``.

The router and the writers of a worker share one Faust consumer, and Faust delivers what one
fetch returned, record after record, before it fetches again. A backlog on ``telemetry.raw``
fills fetch after fetch with raw messages, delivered at the router's pace, while the routed
batches the router produced wait in the consumer for their turn: the writers fell tens of
seconds behind while the router worked through a backlog (issue 19). So the router is paused
while the routed records waiting to be handed to this worker's writers are more than ``high``,
and resumed once they are down to ``low``: the gap between the two keeps it from flapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Turn(Enum):
    PAUSE = "pause"
    RESUME = "resume"


class RouterGate:
    def __init__(self, high: int, low: int | None = None) -> None:
        if high < 1:
            raise ValueError("high must be at least 1")
        self.high = high
        self.low = high // 2 if low is None else low
        if not 0 <= self.low < self.high:
            raise ValueError(f"low ({self.low}) must lie in [0, high={high})")
        self.paused = False

    def judge(self, lag: int) -> Turn | None:
        """What to do now that ``lag`` routed records wait: pause, resume, or nothing."""
        if not self.paused and lag > self.high:
            self.paused = True
            return Turn.PAUSE
        if self.paused and lag <= self.low:
            self.paused = False
            return Turn.RESUME
        return None

    def reset(self) -> None:
        """A new assignment: Faust resumed every stream partition; nothing is paused."""
        self.paused = False


def waiting(ends: Iterable[tuple[int | None, int | None]]) -> int:
    """Records waiting over partitions given as (end offset, position), the position being the
    next offset to hand over; a partition whose end or position is not known yet (nothing read
    from it since the assignment) counts as none."""
    return sum(max(0, end - position) for end, position in ends
               if end is not None and position is not None)
