"""The commit a revocation makes (processor/stream/faust_fixes.py, adjustment 4), with Faust's
real consumer bookkeeping and no broker.

Faust's ``Consumer.on_partitions_revoked`` forgets each revoked partition's committed offset and
acks, then waits for the agents' batches in flight and commits what they ack. With no committed
offset known, that commit started at the first ack after the forgetting: a record missing below
it (the hole the commit rule holds for) was committed past, and lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import faust
from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from processor.stream import faust_fixes

RAW = TP("telemetry.raw", 0)


def ack(consumer: Consumer, offsets: Iterable[int]) -> None:
    with faust_fixes.processed():  # as an agent's checkpoint acks
        for offset in offsets:
            consumer.ack(ConsumerMessage(RAW.topic, RAW.partition, offset, 0.0, 0, {}, b"k",
                                         b"v", None))


def revoke(acked_before: Iterable[int], in_flight: Iterable[int],
           revocation: Callable[..., object] | None = None) -> int | None:
    """Revoke ``RAW`` (committed at 100) from a consumer that acked ``acked_before``, while its
    agent acks ``in_flight``; the offset the revocation's commit would commit."""
    async def play() -> int | None:
        faust_fixes.commits_stop_at_a_missing_record({RAW.topic})
        faust_fixes.acks_mean_processed()
        consumer = faust.App("revoke-test", broker="kafka://127.0.0.1:1").consumer
        consumer.app.topics.acking_topics.add(RAW.topic)
        consumer._committed_offset[RAW] = 100
        ack(consumer, acked_before)
        commits: list[int | None] = []

        async def on_revoked(revoked: set[TP]) -> None:  # Faust's app: wait for the agents, commit
            ack(consumer, in_flight)
            commits.append(consumer._new_offset(RAW))

        consumer._on_partitions_revoked = on_revoked
        # the patched method unless told otherwise (looked up once the patch is installed)
        await (revocation or Consumer.on_partitions_revoked)(consumer, {RAW})  # type: ignore[operator]
        (commit,) = commits
        return commit
    return asyncio.run(play())


def test_a_revocation_commits_every_record_acked_before_and_during_it() -> None:
    assert revoke(range(100, 151), range(151, 161)) == 161


def test_a_revocation_never_commits_past_a_record_missing_below_its_batches_in_flight() -> None:
    # 100 was lost on the way to the agent; 101-150 were acked, and the commit held at 100
    assert revoke(range(101, 151), range(151, 161)) is None
    # before the fix: the revocation forgot the commit at 100, and its commit passed the hole
    assert revoke(range(101, 151), range(151, 161),
                  faust_fixes._original_on_partitions_revoked) == 161


def test_acks_below_the_commit_do_not_hold_it() -> None:
    """Acks made after a revocation, of records another worker committed since, are dropped
    when the partition comes back: the commit holds only for a record missing at its head."""
    async def play() -> int | None:
        faust_fixes.commits_stop_at_a_missing_record({RAW.topic})
        consumer = faust.App("revoke-test", broker="kafka://127.0.0.1:1").consumer
        consumer.app.topics.acking_topics.add(RAW.topic)
        ack(consumer, range(151, 161))  # late acks: nothing committed known
        consumer._committed_offset[RAW] = 300  # the partition back, committed by another at 300
        ack(consumer, range(300, 310))
        return consumer._new_offset(RAW)
    assert asyncio.run(play()) == 310
