"""A fix for a race in Faust's recovery (faust-streaming 0.15): stream partitions were resumed
before they were sought to their committed offsets.

After a rebalance Faust's ``Recovery`` (``_resume_streams`` and ``on_recovery_completed``) calls
``consumer.resume_partitions(...)`` and only then ``consumer.perform_seek()``. Records fetched in
that window reach the agents; the seek then resets Faust's read offsets to the committed ones
while the fetcher is already further on, and later rewinds it. Faust's bookkeeping takes the
records between for a gap (counted as acked, duplicating acks it already has), drops the
re-fetched ones as already read, and can commit past a message no agent finished. Measured here
after ``kill -9`` and a restart: 1 to 11 of 6,000 readings never reached the history in about one
run in three, and the raw topic's commits crawled one offset a second or stopped (issue 5;
faust-streaming issues #216, #312 and #625 describe the parts).

The fix keeps the order Faust meant: while ``Recovery`` runs, ``resume_partitions`` is deferred
until ``perform_seek`` has finished, so the first record a stream sees after a rebalance is the
one at the committed offset. Nothing else in Faust changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer

_DEFERRED = "_resume_deferred_until_seek"  # consumer attribute: set of TPs, while recovering

_original_resume = Consumer.resume_partitions
_original_seek = Consumer.perform_seek


def _resume_partitions(self: Any, tps: Iterable[Any]) -> None:
    deferred = getattr(self, _DEFERRED, None)
    if deferred is None:
        _original_resume(self, tps)
    else:
        deferred.update(tps)


def _release(consumer: Any) -> None:
    deferred = getattr(consumer, _DEFERRED, None)
    if deferred is not None:
        setattr(consumer, _DEFERRED, None)
        if deferred:
            _original_resume(consumer, deferred)


async def _perform_seek(self: Any) -> None:
    try:
        await _original_seek(self)
    finally:
        _release(self)


def _seek_first(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    async def recovering(self: Any, generation_id: int = 0) -> None:
        consumer = self.app.consumer
        setattr(consumer, _DEFERRED, set())
        try:
            await method(self, generation_id)
        finally:  # also when a new rebalance interrupts: resume as Faust would have
            _release(consumer)

    recovering.__name__ = method.__name__
    recovering.__doc__ = method.__doc__
    return recovering


def seek_before_resume() -> None:
    """Install the fix (idempotent)."""
    if getattr(Recovery, "_seek_before_resume", False):
        return
    Consumer.resume_partitions = _resume_partitions  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
    Recovery._resume_streams = _seek_first(Recovery._resume_streams)  # type: ignore[method-assign]
    Recovery.on_recovery_completed = _seek_first(  # type: ignore[method-assign]
        Recovery.on_recovery_completed)
    Recovery._seek_before_resume = True  # type: ignore[attr-defined]
