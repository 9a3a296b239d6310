"""Nine adjustments to Faust (faust-streaming 0.15), installed by ``build_app``, and one setting
(8).

1. ``seek_before_resume``: a fix for a race in Faust's recovery: stream partitions were resumed
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
one at the committed offset. Where nothing (or 0) was committed, aiokafka's seek leaves the
partition where it is, and records Faust's fetch drained and dropped while every partition was
paused would be skipped (measured: the first reading of a new consumer group on a freshly
restarted broker, about one run in three); those partitions are sought to their start. Nothing
else in Faust changes.

2. ``fetch_max_wait``: Faust builds its consumer with ``fetch_max_wait_ms=1500`` and no setting
to change it. Apache Kafka answers a fetch as soon as records arrive, so there it only bounds idle
polls; the embedded broker (Tansu) answers when the wait runs out, and each of the pipeline's two
hops (raw -> router, routed -> writer) waited for it: measured, a single record took a median
488 ms to arrive with 1,500 and 26 ms with 100.

3. ``recovery_reads_to_fetched_end``: a table's recovery reads each changelog partition to its
real end. Faust takes the end from the broker's ListOffsets answer once, when the recovery
starts. The embedded broker (Tansu 0.6) answers with its last record batch's first offset + 1,
while the high watermark of its fetch responses is right (both measured: ListOffsets 11, fetch
13, for a batch of 10 records and one of 3). Recovery then ended at the last batch's first
record; the batch's other records, fetched with it, waited in Faust's recovery buffer until the
next rebalance and were then applied over whatever the writers had set since. The earlier cure,
``recovery_buffer_size=1``, applied them at once but also made Faust resume the changelog
partitions after every recovery (faust/tables/recovery.py, "Support for the specific scenario
where recovery_buffer=1"): the worker's one consumer then fetched back every changelog record
its own writers produced, one Faust event each, and the stream core ran 1.5-2x slower
(docs/performance.md). With this adjustment a partition's remaining records are counted up to
the larger of the ListOffsets answer and the high watermark of the consumer's last fetch of it,
so recovery ends after the whole last batch, Faust pauses the changelog partitions as it does
for every other buffer size, and no worker reads its own changelogs in normal operation. On
Apache Kafka the two ends agree, and nothing changes.

4. ``commits_stop_at_a_missing_record``: on the topics the agents read (``telemetry.raw`` and
the routed topics; ``gapless``), a commit never passes an offset that holds a record no agent
acked. Faust's commit (``Consumer._new_offset``) lets a partition's commit move past one
missing offset at its head (``if min(acked) - committed > 1``, where the head is ``committed``
itself), and past any range its fetch loop took for a gap (records the consumer dropped on the
way to the agent are such a gap). So a record lost between the consumer and its agent,
followed by later records of its partition, was committed past and never processed. On these
topics the commit now waits for the head record to be acked; the record is fetched again by
the worker's guard (``processor/stream/watchdog.py``: a commit that waits at a hole for 15 s)
or after a restart. Offsets that hold no record are passed, as Faust meant to: a transaction's
commit or abort marker, an aborted or compacted record. They are known for certain, not
guessed from a gap: those aiokafka's position moved past in a fetch without handing over a
record (``skipped_offsets``; measured on the embedded broker: a transactional producer's three
one-record transactions took offsets 0, 2 and 4, its markers 1, 3 and 5). Where a fetch could
not tell (a seek while it waited), the commit waits, the guard fetches again from the commit,
and that fetch tells. A revocation keeps the rule: Faust's ``on_partitions_revoked`` forgets a
revoked partition's committed offset and acks before it waits for the agents' batches in flight
and commits their acks, and with no committed offset known that commit passed any hole below
them (tests/unit/stream/test_revoke_commit.py: committed 100, 101-150 acked, 151-160 acked in
flight: Faust committed 161). Both are kept while the revocation runs and put back for its
commit; acks older than a partition's commit (made after a revocation, committed by another
worker since) are dropped. The head is the group's committed offset, so a partition the group never
committed on (a new group's first records) is not covered: Faust's commit there starts at the
first acked record. Setting its head at the start for such partitions (a ListOffsets call while
the streams were being sought) was tried and taken out: with it the kill -9 test lost 795
readings in one run of nine, and none in four runs without it: the await made the window of
adjustment 6 longer.

5. ``kept_partitions_recover_nothing``: a rebalance does not make a worker read back the
changelog records its own writers produced. The tables live in memory, and a changelog
partition's recovery starts where the worker's last recovery of it ended: every record the
writers produced since (a key or two per reading) was read back and applied over the values
they had set, while every stream partition waited. Measured in the chaos soak: 16.5 s of
recovery in a surviving worker after one minute of load at ~1,450 readings/s, growing with the
time between rebalances. A changelog partition that this worker recovered whole and that no
rebalance took away since has had no writer but this worker's, so everything up to its end is
in memory already: its recovery now starts at that end. A partition that came from another
worker, or whose last recovery was cut short by a rebalance, is read as before.

6. ``fetches_hand_over_what_they_take``: a fetch takes from aiokafka only records Faust will
hand to a stream, so no record is dropped while its partition's position moves past it.
Faust's fetch passes its set of active partitions, the live object, to aiokafka's
``fetched_records(partitions)``, which takes an empty set for *every* partition; Faust's
``getmany`` then drops, without a word, the records of partitions that are not active, while
aiokafka has already moved their positions past them. The set is empty whenever every partition
is paused: in a recovery's last step, from the changelogs' pause to the streams' resume (the
stream partitions' seek to their commits happens in between). aiokafka keeps fetching every
assigned partition in the background, paused by Faust or not, so a recovery's records of the
stream partitions were waiting in its buffer; taken in that window, they were dropped, and a
seek that came earlier in the window did not bring them back. Found with a probe of the
consumer in the chaos soak (a writer's partition resumed at 2,336 over its commit at 2,228
after a fetch of 2,228-2,335 returned while every partition was paused); on the raw topic,
whose commits may pass a gap, the same drop lost readings (103 in a 16-minute soak); and the
start-of-partition question of adjustment 4 lost readings this way, by making the window
longer. Now a fetch asks for a copy of the set, nothing when it is empty, and a partition that
left the set while the fetch waited is put back where its records began.

7. ``acks_mean_processed``: on the agents' topics an ack counts only when an agent makes it,
after everything the record made is stored (``processed()``, around ``checkpoint``'s acks).
Faust's pure-Python stream iterator acks a record its stream skipped without processing
(faust/streams.py ``_py_aiter``, "We want to ack the filtered out message"): one taken from an
agent's queue while a rebalance holds the flow, or fetched in an older generation of the group.
Such a record can reach a queue after the rebalance emptied it: the conductor waits to put a
record into a full queue; when the agent takes one, the waiting put is woken; if the
rebalance's ``flow_control.clear()`` comes before the put runs, it empties the queue and cancels
the putters still waiting, but not the woken one, which then puts its record into the emptied
queue. The stream skips it, acks it, and the commit passes a record no agent processed (both
reproduced on demand in tests/unit/stream/test_acks.py). Faust's compiled iterator
(faust/_cython/streams.pyx, used when the wheel's extension loads, as on the platforms we ship
for) skips without acking, so the commit waits and the record is fetched again: there the
adjustment never acts, and its counter (``energy_unprocessed_acks_refused_total``) is a guard
that reads 0. Under the pure-Python iterator (``NO_CYTHON=1``, or a platform without the
compiled extension) the ack is refused and counted, and the record is fetched again after the
rebalance's seek, as with the compiled one.

8. ``COMMIT_EVERY_NEVER`` (a setting, ``broker_commit_every``, not a patch): Faust's fetch loop
(``Consumer._drain_messages``) never commits; the commit timer (``broker_commit_interval``)
does. Every ``broker_commit_every`` acks (Faust's default 10,000: every few seconds under load)
the loop awaited a commit between taking a record and handing it over. A rebalance that ran to
its end meanwhile (the revocation, the new assignment, the seek to the commits) was undone by
the loop's next step: it handed the record of the old generation over (the stream skips it)
and set the partition's read offset to it, over the one the seek had set, so the fetch from
the commit dropped every record below it as already read. The records between the commit and
that one (those the revocation's ``flow_control.clear()`` had taken from the agent's queue)
were never processed: a hole at the commit, the first messages after a rebalance missing while
the ones after them are acked. Reproduced on demand in tests/unit/stream/test_fetch_loop.py
with Faust's own fetch loop; not seen in a chaos run (a probe of the loop saw no commit of its
own outlive a rebalance in 70 of them: the holes the soaks met came from 9). The loop's other
awaits (a record's hand-over, which ends when a rebalance stops the flow, and a zero sleep)
cannot hold a record through a whole rebalance.

9. ``pauses_end_buffer_holds``: a paused partition is neither fetched nor handed over until it
is resumed. Faust takes a partition out of the fetched set while its agent's queue is full
(``on_buffer_full``; the router gate of ``processor/stream/backpressure.py`` holds the raw
partitions the same way) and keeps it in ``_buffered_partitions`` until ``on_buffer_drop`` puts
it back. That set outlives revocations and pauses, and Faust's ``getmany`` hands over the
records of any partition in it, paused or not; ``on_buffer_drop`` puts a partition back
without looking whether something paused it since. So a partition held when a rebalance began
had its records handed to its agent while the recovery held it paused: before its seek, and
before the recovery's last step, whose ``app.flow_control.resume()`` empties every agent queue
(``clear_on_resume``) and threw away those the agent had not taken yet, while the consumer
counted them as read: the hole at the commit that adjustment 4 holds and the guard fetches
again, the only kind the chaos soaks met. Found with a probe of the consumer in chaos runs with
a kill every ~30 s (2026-12-07): a recovery's clear threw away ``telemetry.raw`` p1 48,430 and
54,239, each fetched again by the guard 17 s later; in another run the four raw partitions a
worker kept were handed over before their seek (Faust's read offsets still empty since the
revocation; p5 from 16,968 on), and the refetch after the seek was then dropped as already
read. Now pausing a partition ends its hold, and a hold or its end never touches a paused
partition; the partition's resume makes it fetched again. Both halves are reproduced in
tests/unit/stream/test_buffer_holds.py.

10. ``seek_before_resume`` again: a recovery step that a newer rebalance overtook resumes
nothing. A recovery step (``on_recovery_completed``, ``_resume_streams``) checks the group's
generation once, before its seek of the stream partitions; the generation changes only at a new
assignment, seconds after a new rebalance began with its revocation (which stops the flow and
pauses every partition). A step whose seek ended in between went on as if nothing happened: it
resumed the flow and the stream partitions, and told the app the rebalance was over, inside
the new rebalance; the new assignment's partitions could then be handed to the agents before
its recovery sought them, and its last step's ``flow_control.resume()`` empties the agents'
queues: the hole adjustment 9 describes, by another door. The step's seek now raises Faust's
own ``RebalanceAgain`` when a rebalance began after the one the recovery serves (Faust counts
them as they begin, ``app.rebalancing_count``; ``Recovery.on_rebalance`` notes the count its
recovery serves), and ``Recovery``'s loop waits for the next assignment as it does when a
rebalance interrupts a step. Adjustment 1 resumed the deferred partitions when a step was cut
short ("as Faust would have"); but Faust resumed them before the new rebalance paused them, and
a step is only cut short after the new assignment paused them, so resuming them then undid that
pause. A step cut short now resumes nothing; the next recovery seeks, then resumes. Counted in
``energy_recovery_steps_overtaken_total``. Found by reading the code after the chaos runs of
2026-12-07 (not seen in them); both are played with Faust's ``Recovery`` in
tests/unit/stream/test_faust_fixes.py, and on Faust's own step the overtaken seek is followed by
the flow's resume.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import version
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.transport.consumer import Consumer, ensure_TP
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from processor.errors import StartupError
from processor.stream import metrics

log = logging.getLogger(__name__)

# Adjustment 8: ``broker_commit_every`` for a fetch loop that never commits (Faust commits there
# once this many acks have been made; the commit timer commits every second regardless).
COMMIT_EVERY_NEVER = sys.maxsize

# The Faust code these adjustments were written against (faust-streaming 0.15.3): the first 16
# hex digits of the SHA-256 of each patched method's source. Another version's code may order
# things differently, and a patch of it could then do harm in silence; ``check_faust`` refuses.
WRITTEN_FOR = "0.15.3"
PATCHED_SOURCES = {
    "Recovery._resume_streams": "d986a6710c1aca98",
    "Recovery.on_recovery_completed": "6ef567acf072e46d",
    "Consumer.resume_partitions": "afe6b7c02a41d63c",
    "Consumer.perform_seek": "0e8c130ff4b0afd8",
    "AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad",
    "Recovery.active_remaining": "0dcc38568ad5018b",
    "Consumer._new_offset": "1d2c7ea89a7ad4f1",
    "AIOKafkaConsumerThread._fetch_records": "39a2c6c79fc1455a",
    "Recovery.revoke": "779302ebfab0b2db",
    "Recovery._build_offsets": "27eec86be06cb51f",
    "Consumer.ack": "5fcf41cf45153475",
    "Consumer.on_partitions_revoked": "d04b7ae72c6fc206",
    "Consumer.on_buffer_drop": "4b57e8a418d5ad9c",
    "Consumer.on_buffer_full": "c8961679e0bcdce5",
    "Consumer.pause_partitions": "27a1c94bdacd54de",
    "Recovery.on_rebalance": "aa4d997a1795ceae",
}
# fetch_max_wait sets this attribute of aiokafka's consumer before it starts; start() reads it.
AIOKAFKA_READS = "fetch_max_wait_ms=self._fetch_max_wait_ms"

def source_digest(method: Callable[..., Any]) -> str:
    return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()[:16]


def _originals() -> dict[str, Callable[..., Any]]:
    return {
        "Recovery._resume_streams": getattr(Recovery._resume_streams, "__wrapped__",
                                            Recovery._resume_streams),
        "Recovery.on_recovery_completed": getattr(Recovery.on_recovery_completed, "__wrapped__",
                                                  Recovery.on_recovery_completed),
        "Consumer.resume_partitions": _original_resume,
        "Consumer.perform_seek": _original_seek,
        "AIOKafkaConsumerThread._create_worker_consumer": _original_create,
        "Recovery.active_remaining": _original_remaining,
        "Consumer._new_offset": _original_new_offset,
        "AIOKafkaConsumerThread._fetch_records": _original_fetch_records,
        "Recovery.revoke": _original_revoke,
        "Recovery._build_offsets": _original_build_offsets,
        "Consumer.ack": _original_ack,
        "Consumer.on_partitions_revoked": _original_on_partitions_revoked,
        "Consumer.on_buffer_drop": _original_buffer_drop,
        "Consumer.on_buffer_full": _original_buffer_full,
        "Consumer.pause_partitions": _original_pause,
        "Recovery.on_rebalance": _original_on_rebalance,
    }


def changed_methods(expected: dict[str, str] = PATCHED_SOURCES) -> list[str]:
    """The patched methods whose code is not the code the patches were written for."""
    changed = [name for name, method in _originals().items()
               if source_digest(method) != expected[name]]
    if AIOKAFKA_READS not in inspect.getsource(AIOKafkaConsumer.start):
        changed.append("aiokafka AIOKafkaConsumer.start")
    return changed


def check_faust(expected: dict[str, str] = PATCHED_SOURCES) -> None:
    """Refuse to start on Faust or aiokafka code the patches were not written for."""
    changed = changed_methods(expected)
    if changed:
        raise StartupError(
            f"faust-streaming {version('faust-streaming')} (aiokafka {version('aiokafka')}) "
            "differs from the code processor/stream/faust_fixes.py patches in: "
            f"{', '.join(changed)}. "
            f"The patches were written for faust-streaming {WRITTEN_FOR}: install it "
            f"(pip install 'faust-streaming=={WRITTEN_FOR}'), or review the patches against "
            "the new code and update PATCHED_SOURCES.")


_DEFERRED = "_resume_deferred_until_seek"  # consumer attribute: set of TPs, while recovering

_original_resume = Consumer.resume_partitions
_original_seek = Consumer.perform_seek
_original_on_rebalance = Recovery.on_rebalance
# Adjustment 10: the consumer attribute (the rebalance count) of the recovery step running, and
# the Recovery attribute: the count of the rebalance the coming recovery serves.
_SERVING = "_recovery_step_serves"
_SERVES = "_recovery_serves_rebalance"


def _resume_partitions(self: Any, tps: Iterable[Any]) -> None:
    deferred = getattr(self, _DEFERRED, None)
    if deferred is None:
        _original_resume(self, tps)
    else:
        deferred.update(tps)


def _release(consumer: Any, resume: bool) -> None:
    deferred = getattr(consumer, _DEFERRED, None)
    if deferred is not None:
        setattr(consumer, _DEFERRED, None)
        if deferred and resume:
            _original_resume(consumer, deferred)


async def _perform_seek(self: Any) -> None:
    deferred = getattr(self, _DEFERRED, None)
    if deferred is None:
        await _original_seek(self)
        return
    # resumed by ``_seek_first`` once the recovery step is over (see there)
    await _seek_streams(self, deferred)
    served, now = getattr(self, _SERVING), self.app.rebalancing_count
    if now != served:  # adjustment 10: a newer rebalance has begun
        metrics.RECOVERY_STEPS_OVERTAKEN.inc()
        log.info("A recovery step was overtaken by a new rebalance (%d since the one it "
                 "serves): its stream partitions stay paused for the next recovery",
                 now - served)
        raise RebalanceAgain()


async def _seek_streams(self: Any, resuming: set[Any]) -> None:
    """Faust's ``perform_seek``, and a real seek for the partitions it would leave alone.

    aiokafka's ``seek_to_committed`` does not move a partition whose committed offset is
    missing or 0, and while every partition is paused Faust's fetch call can drain records of
    any partition and drop them. A stream partition about to resume is therefore sought to its
    start when nothing (or 0) was committed, under ``consumer_auto_offset_reset="earliest"``;
    otherwise the first readings of a new group could be skipped.
    """
    read_offset = self._read_offset
    committed = await self.seek_to_committed()
    read_offset.update({tp: offset if offset is not None and offset >= 0 else None
                        for tp, offset in committed.items()})
    self._committed_offset.update({ensure_TP(tp): offset if offset else None
                                   for tp, offset in committed.items() if offset is not None})
    if self.app.conf.consumer_auto_offset_reset != "earliest":
        return
    unsought = [tp for tp, offset in committed.items() if not offset and tp in resuming]
    if unsought:
        await self._thread.seek_to_beginning(*unsought)
        for tp in unsought:
            read_offset[ensure_TP(tp)] = None


_WHOLE = "_whole_active_tps"  # Recovery attribute: changelog partitions held whole (5)
_original_revoke = Recovery.revoke
_original_build_offsets = Recovery._build_offsets


def _revoke(self: Any, tp: Any) -> None:
    getattr(self, _WHOLE, set()).discard(tp)  # another worker may write it from now on
    _original_revoke(self, tp)


async def _build_offsets(self: Any, consumer: Any, tps: set[Any], destination: Any,
                         title: str) -> None:
    """Faust's start offsets, and for a partition held whole since its last recovery the
    partition's end (``active_highwaters``, built just before): nothing to read back."""
    await _original_build_offsets(self, consumer, tps, destination, title)
    if title != "active":
        return
    for tp in tps & getattr(self, _WHOLE, set()):
        end = self.active_highwaters.get(tp)
        start = destination.get(tp)
        if end is not None and (start is None or end > start):
            destination[tp] = end


def kept_partitions_recover_nothing() -> None:
    """Install adjustment 5 (idempotent; the recovery steps record whole partitions through
    ``seek_before_resume``, which must be installed too), after checking the code."""
    if Recovery._build_offsets is _build_offsets:
        return
    check_faust()
    Recovery.revoke = _revoke  # type: ignore[method-assign]
    Recovery._build_offsets = _build_offsets  # type: ignore[method-assign]


def _seek_first(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """The recovery step (``_resume_streams`` or ``on_recovery_completed``) with the stream
    partitions resumed only when it is over: after their seek, and after the step's
    ``app.flow_control.resume()``, which empties every agent's channel queue (Faust makes them
    with ``clear_on_resume=True``). Resumed before that clear, a partition's first records
    could be fetched and handed to its agent's queue, then thrown away by the clear, while the
    consumer counted them as read: they were never processed and never fetched again (the
    loss section 2 of docs/architecture.md describes)."""
    async def recovering(self: Any, generation_id: int = 0) -> None:
        consumer = self.app.consumer
        setattr(consumer, _DEFERRED, set())
        setattr(consumer, _SERVING, getattr(self, _SERVES, self.app.rebalancing_count))
        ran_to_its_end = False
        try:
            await method(self, generation_id)
            ran_to_its_end = True
        finally:
            # Cut short (a new rebalance, adjustment 10; or the service stopping), the step
            # resumes nothing: the new rebalance has paused what it assigned, and its own
            # recovery resumes the partitions after seeking them.
            _release(consumer, resume=ran_to_its_end)
        if self.app.consumer_generation_id == generation_id:
            # the step ran to its end (it returns early when a rebalance came meanwhile): every
            # active changelog partition was read to its end (adjustment 5)
            setattr(self, _WHOLE, set(self.active_tps))

    recovering.__name__ = method.__name__
    recovering.__doc__ = method.__doc__
    recovering.__wrapped__ = method  # type: ignore[attr-defined]
    return recovering


async def _on_rebalance(self: Any, assigned: set[Any], revoked: set[Any],
                        newly_assigned: set[Any], generation_id: int = 0) -> None:
    # Faust counts a rebalance when it begins (the revocation, ``app.on_rebalance_start``);
    # this is the count of the one the coming recovery serves (adjustment 10).
    setattr(self, _SERVES, self.app.rebalancing_count)
    await _original_on_rebalance(self, assigned, revoked, newly_assigned, generation_id)


def seek_before_resume() -> None:
    """Install adjustments 1 and 10 (idempotent), after checking the code they patch
    (``check_faust``)."""
    if getattr(Recovery, "_seek_before_resume", False):
        return
    check_faust()
    Recovery.on_rebalance = _on_rebalance  # type: ignore[method-assign]
    Consumer.resume_partitions = _resume_partitions  # type: ignore[method-assign,assignment]
    Consumer.perform_seek = _perform_seek  # type: ignore[method-assign,assignment]
    Recovery._resume_streams = _seek_first(Recovery._resume_streams)  # type: ignore[method-assign,assignment]
    Recovery.on_recovery_completed = _seek_first(  # type: ignore[method-assign,assignment]
        Recovery.on_recovery_completed)
    Recovery._seek_before_resume = True  # type: ignore[attr-defined]


_original_create = AIOKafkaConsumerThread._create_worker_consumer
_fetch_max_wait_ms = 1500


def _create_worker_consumer(self: Any, transport: Any) -> Any:
    consumer = _original_create(self, transport)
    consumer._fetch_max_wait_ms = _fetch_max_wait_ms  # read by AIOKafkaConsumer.start()
    return consumer


def fetch_max_wait(ms: int) -> None:
    """Make every worker consumer created from now on wait at most ``ms`` for records."""
    global _fetch_max_wait_ms
    check_faust()
    _fetch_max_wait_ms = ms
    AIOKafkaConsumerThread._create_worker_consumer = (  # type: ignore[method-assign,assignment]
        _create_worker_consumer)


_original_fetch_records = AIOKafkaConsumerThread._fetch_records


async def _fetch_records(self: Any, consumer: Any, active_partitions: Any,
                         timeout: float | None = None, max_records: int | None = None) -> Any:
    wanted = frozenset(active_partitions)  # the live set changes while the fetch waits
    if not wanted:  # to aiokafka an empty set is every partition
        return {}
    faust_consumer = self.consumer
    before = _positions(consumer, wanted) if _GAPLESS else None
    records: Any = await _original_fetch_records(self, consumer, wanted,  # type: ignore[arg-type]
                                                 timeout=timeout, max_records=max_records)
    if before:
        _note_skipped(faust_consumer, before, _positions(consumer, before), records)
    active = faust_consumer._active_partitions
    if not records or active is None:
        return records
    buffered = faust_consumer._buffered_partitions  # with ``active``: what getmany delivers
    for tp in [tp for tp in records if tp not in active and tp not in buffered]:
        taken = records.pop(tp)
        if taken and tp in consumer.assignment():
            consumer.seek(tp, taken[0].offset)  # as if they had not been taken
    return records


def fetches_hand_over_what_they_take() -> None:
    """Install adjustment 6 (idempotent), after checking the code it patches."""
    if AIOKafkaConsumerThread._fetch_records is _fetch_records:
        return
    check_faust()
    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]


_original_remaining = Recovery.active_remaining


def fetched_end(consumer: Any, tp: Any) -> int | None:
    """The last offset of ``tp`` by the high watermark of the consumer's last fetch of it (None
    before any fetch, or when the partition is not assigned)."""
    try:
        highwater = consumer.highwater(tp)
    except (AssertionError, RuntimeError):  # not assigned, consumer not started
        return None
    return highwater - 1 if isinstance(highwater, int) else None


def _active_remaining(self: Any) -> Any:
    highwaters = self.active_highwaters
    consumer = self.app.consumer
    for tp, last in list(highwaters.items()):
        fetched = fetched_end(consumer, tp)
        if fetched is not None and (last is None or fetched > last):
            highwaters[tp] = fetched
    return _original_remaining(self)


def recovery_reads_to_fetched_end() -> None:
    """Install adjustment 3 (idempotent), after checking the code it patches."""
    if Recovery.active_remaining is _active_remaining:
        return
    check_faust()
    Recovery.active_remaining = _active_remaining  # type: ignore[method-assign]


_original_new_offset = Consumer._new_offset
_GAPLESS: set[str] = set()  # topics whose commits wait for every record (adjustment 4)
_SKIPPED = "_offsets_without_records"  # consumer attribute: tp -> [(start, end)] (adjustment 4)
_skipped_lock = threading.Lock()  # noted in the consumer's thread, read in the event loop's


def _positions(consumer: Any, tps: Iterable[Any]) -> dict[Any, int]:
    """aiokafka's position (the next offset it hands over) of each partition of a gapless
    topic among ``tps`` that has one."""
    subscription = consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    if assignment is None:
        return {}
    positions = {}
    for tp in tps:
        if tp.topic in _GAPLESS:
            state = assignment.state_value(tp)
            if state is not None and state._position is not None:
                positions[tp] = state._position
    return positions


def skipped_offsets(before: int, offsets: list[int], after: int) -> list[tuple[int, int]]:
    """The offsets a fetch moved a partition's position past without handing over a record
    (``[start, end)`` ranges): a fetch from ``before`` that returned records at ``offsets`` and
    left the position at ``after``. aiokafka moves past offsets that hold no record it hands
    over: a transaction's marker, an aborted or compacted record. Nothing when the position
    was moved meanwhile (a seek: the records do not lie between ``before`` and ``after``)."""
    if after - before == len(offsets) and (not offsets or offsets[0] == before):
        return []  # a record at every offset: the usual case
    if offsets and (offsets[0] < before or offsets[-1] >= after):
        return []  # sought meanwhile: what lies between is not known
    ranges, at = [], before
    for offset in [*offsets, after]:
        if offset > at:
            ranges.append((at, offset))
        at = offset + 1
    return ranges


def _note_skipped(faust_consumer: Any, before: dict[Any, int], after: dict[Any, int],
                  records: Any) -> None:
    for tp, start in before.items():
        end = after.get(tp)
        if end is None or end <= start:
            continue
        taken = records.get(tp) or ()
        if end - start == len(taken):
            continue  # a record at every offset
        ranges = skipped_offsets(start, [record.offset for record in taken], end)
        if ranges:
            with _skipped_lock:
                skipped = getattr(faust_consumer, _SKIPPED, None)
                if skipped is None:
                    skipped = {}
                    setattr(faust_consumer, _SKIPPED, skipped)
                skipped.setdefault(tp, []).extend(ranges)


def next_record(consumer: Any, tp: Any, offset: int) -> int:
    """The first offset from ``offset`` on that is not known to hold no record (a transaction's
    last marker, after the commit, stays uncommitted until a later record is acked)."""
    skipped = getattr(consumer, _SKIPPED, None)
    if not skipped or tp not in skipped:
        return offset
    with _skipped_lock:
        ranges = sorted(skipped[tp])
    for start, end in ranges:
        if start <= offset < end:
            offset = end
    return offset


def _count_acked(self: Any, tp: Any, acked: list[int], offsets: Iterable[int]) -> None:
    """Add ``offsets`` to ``tp``'s acked ones (Faust's list and its index), each once."""
    index = self._acked_index[tp]
    for offset in offsets:
        if offset not in index:
            index.add(offset)
            acked.append(offset)


def _fill_skipped(self: Any, tp: Any, acked: list[int], committed: int) -> None:
    """Count as acked the offsets from ``committed`` to the last acked one that hold no record
    (``skipped_offsets``); forget the ranges the commit has passed."""
    skipped = getattr(self, _SKIPPED, None)
    if not skipped or tp not in skipped:
        return
    last = max(acked)
    with _skipped_lock:
        ranges = [(start, end) for start, end in skipped[tp] if end > committed]
        skipped[tp] = [(start, end) for start, end in ranges if end > last + 1]
    for start, end in ranges:
        _count_acked(self, tp, acked, range(max(start, committed), min(end, last + 1)))


def _restore_revoked(self: Any, tp: Any, acked: list[int]) -> int | None:
    """The commit and acks a revocation took from ``tp`` while it runs (``_kept_while_revoking``),
    put back for its own commit: the partition's committed offset, and then the acks it had."""
    kept = getattr(self, _REVOKING, None)
    if not kept or tp not in kept:
        return None
    committed, earlier = kept.pop(tp)
    self._committed_offset[tp] = committed
    _count_acked(self, tp, acked, earlier)
    return committed  # type: ignore[no-any-return]


def _new_offset(self: Any, tp: Any) -> int | None:
    if tp.topic in _GAPLESS:
        self._gap.pop(tp, None)  # Faust's gaps include records dropped on the way: not here
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        if committed is None:
            committed = _restore_revoked(self, tp, acked)
        if acked and committed is not None:
            if min(acked) < committed:  # acked after a revocation, committed by another since
                self._acked_index[tp].difference_update(o for o in acked if o < committed)
                acked[:] = [offset for offset in acked if offset >= committed]
                if not acked:
                    return None
            _fill_skipped(self, tp, acked, committed)
            if min(acked) != committed:
                return None  # the record at the head was not acked: the commit waits for it
    return _original_new_offset(self, tp)  # type: ignore[no-any-return]


_original_on_partitions_revoked = Consumer.on_partitions_revoked
_REVOKING = "_gapless_revoking"  # consumer attribute: tp -> (committed, acked) while revoking


async def _kept_while_revoking(self: Any, revoked: set[Any]) -> None:
    """Faust's revocation forgets each revoked partition's committed offset and acks, and then
    waits for the agents' batches in flight and commits their acks: with no committed offset
    known, its commit passed any record missing below them. Kept here for that commit."""
    setattr(self, _REVOKING, {
        tp: (committed, list(self._acked.get(tp, ())))
        for tp in revoked
        if tp.topic in _GAPLESS and (committed := self._committed_offset.get(tp)) is not None})
    try:
        await _original_on_partitions_revoked(self, revoked)
    finally:
        setattr(self, _REVOKING, {})


def commits_stop_at_a_missing_record(gapless: Iterable[str]) -> None:
    """Install adjustment 4 for the ``gapless`` topics (idempotent), after checking the code."""
    _GAPLESS.update(gapless)
    if Consumer._new_offset is _new_offset:
        return
    check_faust()
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = _kept_while_revoking  # type: ignore[method-assign]


_original_ack = Consumer.ack
_PROCESSED: ContextVar[bool] = ContextVar("acks_of_processed_records", default=False)


@contextmanager
def processed() -> Iterator[None]:
    """Around an agent's acks of records whose every product is stored: on the gapless topics
    only these acks count (adjustment 7)."""
    token = _PROCESSED.set(True)
    try:
        yield
    finally:
        _PROCESSED.reset(token)


def _ack(self: Any, message: Any) -> bool:
    if message.topic in _GAPLESS and not _PROCESSED.get():
        metrics.UNPROCESSED_ACKS.labels(message.topic).inc()
        log.warning("refused Faust's ack of %s[%d]@%d: its stream skipped it unprocessed (a "
                    "rebalance held the flow); the commit waits for it, and it is fetched again",
                    message.topic, message.partition, message.offset)
        return False
    return _original_ack(self, message)  # type: ignore[no-any-return]


def acks_mean_processed() -> None:
    """Install adjustment 7 (idempotent), after checking the code it patches. Its topics are
    adjustment 4's ``gapless`` ones."""
    if Consumer.ack is _ack:
        return
    check_faust()
    Consumer.ack = _ack  # type: ignore[method-assign]


_original_buffer_drop = Consumer.on_buffer_drop
_original_buffer_full = Consumer.on_buffer_full
_original_pause = Consumer.pause_partitions


def _pause_partitions(self: Any, tps: Iterable[Any]) -> None:
    tps = set(tps)
    _original_pause(self, tps)
    self._buffered_partitions.difference_update(tps)  # paused now: its resume decides


def _buffer_full(self: Any, tp: Any) -> None:
    if tp not in self._paused_partitions:
        _original_buffer_full(self, tp)


def _buffer_drop(self: Any, tp: Any) -> None:
    if tp not in self._paused_partitions:
        _original_buffer_drop(self, tp)


def pauses_end_buffer_holds() -> None:
    """Install adjustment 9 (idempotent), after checking the code it patches."""
    if Consumer.on_buffer_drop is _buffer_drop:
        return
    check_faust()
    Consumer.pause_partitions = _pause_partitions  # type: ignore[method-assign]
    Consumer.on_buffer_full = _buffer_full  # type: ignore[method-assign]
    Consumer.on_buffer_drop = _buffer_drop  # type: ignore[method-assign]
