"""After every rebalance, the first record of each routed partition must be the one at its
committed offset: a check that no record was skipped.

A record a restarted worker fetched but never processed would otherwise be committed past as
soon as later records of its partition are acked (Faust's commit tolerates one missing offset
at the head of a partition). The stall test met a restarted worker that never processed a
partition's one unacked record (docs/architecture.md, section 2); with later records, the
same skip would lose the reading in silence. So the writers compare each partition's first
record since the last assignment with the offset committed for it, and a worker that finds a
gap exits for redelivery. Only the routed topics are checked: we produce them, without
transactions, so their offsets have no gaps of their own (a transactional producer's markers
could leave gaps in ``telemetry.raw``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any


class FirstOffsets:
    def __init__(self, committed: Callable[[Any], int | None]) -> None:
        self.committed = committed  # partition -> the offset committed for it, if any
        self.seen: set[Any] = set()  # partitions with a record since the last assignment

    def reset(self) -> None:
        """A new assignment: every partition's next record is its first again."""
        self.seen.clear()

    def skipped(self, tp: Any, offset: int) -> int | None:
        """The committed offset when ``offset``, the partition's first record since the last
        assignment, lies beyond it (records in between were skipped); else None."""
        if tp in self.seen:
            return None
        self.seen.add(tp)
        committed = self.committed(tp)
        return committed if committed is not None and offset > committed else None


def committed_offsets(consumer: Any) -> dict[Any, int]:
    """What Faust's consumer holds as committed per partition (the next offset to read). Faust's
    offsets are not in its public interface: this module is the one place that reads them."""
    return dict(getattr(consumer, "_committed_offset", {}))


def read_offsets(consumer: Any) -> dict[Any, int]:
    """The last offset Faust's consumer handed to a stream, per partition, since the
    assignment."""
    return dict(getattr(consumer, "_read_offset", {}))


async def partition_states(consumer: Any, topic: str, timeout: float = 2.0) -> str:
    """What the consumer knows of each assigned partition of ``topic``, in one line, for the
    log of a stall: the offset committed, the last one handed to a stream, where the fetcher
    stands, and whether the partition is fetched (Faust leaves out the paused ones, and those
    whose stream buffer is full)."""
    tps = sorted((tp for tp in consumer.assignment() if tp.topic == topic),
                 key=lambda tp: tp.partition)
    active = getattr(consumer, "_active_partitions", None)
    paused: set[Any] = getattr(consumer, "_paused_partitions", set())
    buffered: set[Any] = getattr(consumer, "_buffered_partitions", set())
    committed, read = committed_offsets(consumer), read_offsets(consumer)
    parts = []
    for tp in tps:
        try:
            position = await asyncio.wait_for(consumer.position(tp), timeout)
        except Exception as exc:  # noqa: BLE001 - a diagnostic: say what it was
            position = type(exc).__name__
        fetched = ("paused" if tp in paused else "buffer full" if tp in buffered
                   else "fetched" if active is None or tp in active else "not fetched")
        parts.append(f"p{tp.partition}: committed {committed.get(tp)}, handed over "
                     f"{read.get(tp)}, fetch position {position}, {fetched}")
    return "; ".join(parts) or "no partition assigned"


async def or_start(consumer: Any, found: Mapping[Any, int | None], tps: Iterable[Any],
                   timeout: float, starts: MutableMapping[Any, int] | None = None
                   ) -> dict[Any, int | None]:
    """``found`` for ``tps``, a partition with no offset in it taken from its start (nothing
    committed yet: a new consumer group). ``starts``, if given, keeps the starts asked of the
    broker, and a partition's start found there is not asked again (it moves only with
    retention; the caller clears it)."""
    out = {tp: found.get(tp) for tp in tps}
    known: MutableMapping[Any, int] = {} if starts is None else starts
    unknown = [tp for tp, offset in out.items() if offset is None and tp not in known]
    if unknown:
        known.update(await asyncio.wait_for(consumer.earliest_offsets(*unknown), timeout))
    out.update({tp: known[tp] for tp, offset in out.items() if offset is None and tp in known})
    return out


def committed_offset(consumer: Callable[[], Any]) -> Callable[[Any], int | None]:
    """What Faust's consumer (``consumer()``, asked when needed: the app makes it when the
    worker starts) holds as committed for a partition."""
    def committed(tp: Any) -> int | None:
        value = committed_offsets(consumer()).get(tp)
        return int(value) if value else None
    return committed
