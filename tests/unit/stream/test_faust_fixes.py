"""The Faust patch (processor/stream/faust_fixes.py), pinned down without a broker.

In the style of Faust's own tests/unit/tables/test_recovery.py: a real ``Recovery`` on a real
app, with a consumer that records what happens in which order. The kill -9 test of the
recovery suite catches a regression about one run in three; these catch it every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, Mock

import faust
import pytest
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.transport.consumer import Consumer
from faust.types import TP

from processor.errors import StartupError
from processor.stream import faust_fixes

STREAM_0 = TP("telemetry.raw", 0)  # committed before: sought to offset 120
STREAM_1 = TP("telemetry.raw", 1)  # nothing committed (a new group): sought to its start
CHANGELOG = TP("app-meter_live-changelog", 0)  # never resumed as a stream partition


class Fetching(set[TP]):
    """The consumer's active partitions: a resume adds to them, and is recorded."""

    def __init__(self, steps: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.steps = steps

    def update(self, *others: Any) -> None:
        super().update(*others)
        self.steps.append(("resumed", frozenset(self)))


class RecordingConsumer:
    """What the patched methods touch of Faust's consumer, recording each step in order. The
    methods under test are Faust's own ``Consumer`` methods, as patched (or not)."""

    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.steps: list[tuple[str, Any]] = []
        self.committed = committed
        self._active_partitions = Fetching(self.steps)
        self._paused_partitions = {STREAM_0, STREAM_1, CHANGELOG}
        self._read_offset: dict[TP, int | None] = {}
        self._committed_offset: dict[TP, int | None] = {}
        self.app: Any = SimpleNamespace(conf=SimpleNamespace(consumer_auto_offset_reset="earliest"),
                                        rebalancing_count=0)
        self._thread = SimpleNamespace(seek_to_beginning=self._seek_to_beginning)

    def resume_partitions(self, tps: Any) -> None:
        Consumer.resume_partitions(self, tps)  # type: ignore[arg-type]

    async def perform_seek(self) -> None:
        await Consumer.perform_seek(self)  # type: ignore[arg-type]

    def _get_active_partitions(self) -> set[TP]:
        return self._active_partitions

    async def seek_to_committed(self) -> dict[TP, int | None]:
        # What a stream partition resumed at this moment would fetch from: the wrong offset.
        self.steps.append(("sought", frozenset(self._active_partitions)))
        return dict(self.committed)

    async def _seek_to_beginning(self, *tps: TP) -> None:
        self.steps.append(("to beginning", frozenset(tps)))

    def assignment(self) -> set[TP]:
        return {STREAM_0, STREAM_1, CHANGELOG}

    def resume_flow(self) -> None:
        self.steps.append(("flow", None))


@pytest.fixture(scope="module")
def patched() -> None:
    faust_fixes.seek_before_resume()


@pytest.fixture
def app() -> Iterator[faust.App]:
    app = faust.App("fix-test", broker="kafka://127.0.0.1:1", store="memory://")
    app.on_rebalance_complete = Mock(send=AsyncMock())  # type: ignore[misc]
    app.on_rebalance_end = Mock()  # type: ignore[method-assign]
    app.flow_control = Mock()  # type: ignore[misc]
    app._fetcher = Mock(maybe_start=AsyncMock())  # type: ignore[attr-defined]
    yield app


def recovery_with(app: faust.App, consumer: RecordingConsumer) -> Recovery:
    app.consumer = consumer  # type: ignore[assignment]
    recovery = Recovery(app, Mock(name="tables", values=Mock(return_value=[])))
    recovery._is_changelog_tp = lambda tp: tp == CHANGELOG  # type: ignore[method-assign]

    async def wait(coro: Any, timeout: float | None = None) -> None:
        await coro

    recovery._wait = wait  # type: ignore[method-assign]
    return recovery


@pytest.mark.parametrize("step", ["_resume_streams", "on_recovery_completed"])
def test_stream_partitions_are_sought_before_they_resume(patched: None, app: faust.App,
                                                         step: str) -> None:
    consumer = RecordingConsumer({STREAM_0: 120, STREAM_1: None})
    recovery = recovery_with(app, consumer)
    asyncio.run(getattr(recovery, step)())
    assert consumer.steps == [
        ("sought", frozenset()),  # nothing fetches while partitions are sought
        ("to beginning", frozenset({STREAM_1})),  # no commit: from the start, not dropped
        ("flow", None),  # the channel queues are emptied, the flow resumed...
        ("resumed", frozenset({STREAM_0, STREAM_1})),  # ...and only then anything fetched
    ]
    assert consumer._read_offset == {STREAM_0: 120, STREAM_1: None}
    assert consumer._committed_offset == {STREAM_0: 120}
    assert getattr(consumer, faust_fixes._DEFERRED) is None
    assert recovery.completed.is_set()


def test_without_the_patch_faust_resumes_before_it_seeks(app: faust.App) -> None:
    """What the patch is for, shown on Faust's own code (the originals, unpatched)."""
    consumer = RecordingConsumer({STREAM_0: 120, STREAM_1: None})
    consumer.resume_partitions = (  # type: ignore[method-assign]
        lambda tps: faust_fixes._original_resume(consumer, tps))
    consumer.perform_seek = lambda: faust_fixes._original_seek(consumer)  # type: ignore
    recovery = recovery_with(app, consumer)
    original = faust_fixes._originals()["Recovery._resume_streams"]
    asyncio.run(original(recovery))
    assert consumer.steps[:2] == [("resumed", frozenset({STREAM_0, STREAM_1})),
                                  ("sought", frozenset({STREAM_0, STREAM_1}))]


def test_a_step_cut_short_by_a_rebalance_leaves_its_partitions_paused(
        patched: None, app: faust.App) -> None:
    """A new assignment interrupts the step's seek (``RebalanceAgain``: Faust's ``_wait`` sees
    the new recovery's start, which comes after ``_on_partitions_assigned`` paused what it
    assigned). Faust's own order had resumed the partitions before that pause, so they end
    paused; resuming them now would undo the new rebalance's pause, and its recovery would
    hand their records over before its seek. So nothing is resumed."""
    consumer = RecordingConsumer({STREAM_0: 120, STREAM_1: 7})
    recovery = recovery_with(app, consumer)

    async def interrupted(coro: Any, timeout: float | None = None) -> None:
        coro.close()  # the seek never runs: a new rebalance started
        raise RebalanceAgain()

    recovery._wait = interrupted  # type: ignore[method-assign]
    with pytest.raises(RebalanceAgain):
        asyncio.run(recovery._resume_streams())
    assert consumer.steps == []  # still paused: the next recovery seeks, then resumes them
    assert getattr(consumer, faust_fixes._DEFERRED) is None
    # and outside recovery, resuming is not deferred any more
    consumer.resume_partitions({CHANGELOG})
    assert CHANGELOG in consumer._active_partitions


class RevokedWhileSeeking(RecordingConsumer):
    """A consumer whose group begins a new rebalance while the recovery step's seek waits for
    the committed offsets: Faust's rebalance listener counts it (``app.on_rebalance_start``,
    from the consumer's thread) and the app's revocation handler stops the flow, before the
    new assignment (and so before anything Faust's recovery step checks changes)."""

    def __init__(self, committed: dict[TP, int | None], app: faust.App) -> None:
        super().__init__(committed)
        self.app = app  # the consumer's app counts the rebalances, as Faust's does

    async def seek_to_committed(self) -> dict[TP, int | None]:
        self.app.on_rebalance_start()
        self.steps.append(("revoked", None))
        return await super().seek_to_committed()


def revoked_while_seeking(app: faust.App) -> tuple[RevokedWhileSeeking, Recovery]:
    app.tables = Mock(on_rebalance_start=Mock())  # type: ignore[misc]
    consumer = RevokedWhileSeeking({STREAM_0: 120, STREAM_1: 7}, app)
    recovery = recovery_with(app, consumer)
    app.assignor.assigned_standbys = Mock(return_value=set())  # type: ignore[method-assign]
    app.assignor.assigned_actives = Mock(return_value=set())  # type: ignore[method-assign]
    # the rebalance this recovery serves: its assignment reaches the recovery
    asyncio.run(recovery.on_rebalance(set(), set(), set(), app.consumer_generation_id))
    return consumer, recovery


@pytest.mark.parametrize("step", ["_resume_streams", "on_recovery_completed"])
def test_a_step_overtaken_by_a_new_rebalance_resumes_nothing(patched: None, app: faust.App,
                                                             step: str) -> None:
    consumer, recovery = revoked_while_seeking(app)
    before = faust_fixes.metrics.RECOVERY_STEPS_OVERTAKEN._value.get()
    with pytest.raises(RebalanceAgain):  # Faust's recovery loop waits for the next assignment
        asyncio.run(getattr(recovery, step)(app.consumer_generation_id))
    assert consumer.steps == [("revoked", None), ("sought", frozenset())]
    app.flow_control.resume.assert_not_called()  # the revocation's stop of the flow holds
    app.on_rebalance_end.assert_not_called()  # and the app still knows it is rebalancing
    assert not recovery.completed.is_set()
    assert getattr(consumer, faust_fixes._DEFERRED) is None
    assert faust_fixes.metrics.RECOVERY_STEPS_OVERTAKEN._value.get() == before + 1


def test_on_faust_code_an_overtaken_step_resumes_the_flow_inside_the_new_rebalance(
        app: faust.App) -> None:
    """What adjustment 10 is for, on Faust's own step: it checks the group's generation only
    before its seek, and the generation changes only at the new assignment, so a step whose
    seek ends after a revocation resumes the flow and the partitions that revocation stopped,
    and tells the app the rebalance is over."""
    consumer, recovery = revoked_while_seeking(app)
    consumer.resume_partitions = (  # type: ignore[method-assign]
        lambda tps: faust_fixes._original_resume(consumer, tps))
    consumer.perform_seek = lambda: faust_fixes._original_seek(consumer)  # type: ignore
    original = faust_fixes._originals()["Recovery.on_recovery_completed"]
    asyncio.run(original(recovery, app.consumer_generation_id))
    assert consumer.steps == [("resumed", frozenset({STREAM_0, STREAM_1})), ("revoked", None),
                              ("sought", frozenset({STREAM_0, STREAM_1})), ("flow", None)]
    app.flow_control.resume.assert_called_once()
    app.on_rebalance_end.assert_called_once()


def test_outside_recovery_nothing_is_deferred(patched: None) -> None:
    consumer = RecordingConsumer({})
    consumer.resume_partitions({STREAM_0})
    assert consumer.steps == [("resumed", frozenset({STREAM_0}))]


def test_the_installed_faust_is_the_code_the_patch_was_written_for() -> None:
    assert set(faust_fixes._originals()) == set(faust_fixes.PATCHED_SOURCES)  # each one checked
    assert faust_fixes.changed_methods() == []
    faust_fixes.check_faust()


def test_changed_faust_code_stops_the_start_with_a_clear_message() -> None:
    other = {**faust_fixes.PATCHED_SOURCES, "Consumer.perform_seek": "0" * 16}
    assert faust_fixes.changed_methods(other) == ["Consumer.perform_seek"]
    with pytest.raises(StartupError, match=r"Consumer\.perform_seek.*faust-streaming==0\.15\.3"):
        faust_fixes.check_faust(other)


class FetchingConsumer:
    """The high watermarks of the consumer's last fetches (aiokafka's ``highwater``)."""

    def __init__(self, fetched: dict[TP, int | None]) -> None:
        self.fetched = fetched

    def highwater(self, tp: TP) -> int | None:
        if tp not in self.fetched:
            raise AssertionError("Partition is not assigned")
        return self.fetched[tp]


def test_recovery_counts_a_changelog_to_the_end_its_fetch_reported(app: faust.App) -> None:
    faust_fixes.recovery_reads_to_fetched_end()
    other = TP("app-meter_hourly-changelog", 0)
    gone = TP("app-vehicle_live-changelog", 3)
    # ListOffsets said 11 (the embedded broker: its last batch's first offset + 1), the fetch
    # of the batch said 13; nothing fetched yet of the other; the third is not assigned.
    app.consumer = FetchingConsumer({CHANGELOG: 13, other: None})  # type: ignore[assignment]
    recovery = Recovery(app, Mock(name="tables", values=Mock(return_value=[])))
    recovery.active_highwaters.update({CHANGELOG: 10, other: 4, gone: 2})
    recovery.active_offsets.update({CHANGELOG: 10, other: 1, gone: 2})
    # Faust alone would end this partition's recovery here, at offset 10 of 0-12.
    assert faust_fixes._original_remaining(recovery)[CHANGELOG] == 0
    assert recovery.active_remaining() == {CHANGELOG: 2, other: 3, gone: 0}
    assert recovery.need_recovery()
    recovery.active_offsets[CHANGELOG] = 12
    recovery.active_offsets[other] = 4
    assert not recovery.need_recovery()


def test_a_fetch_never_lowers_the_end_faust_asked_for(app: faust.App) -> None:
    faust_fixes.recovery_reads_to_fetched_end()
    app.consumer = FetchingConsumer({CHANGELOG: 5})  # type: ignore[assignment]
    recovery = Recovery(app, Mock(name="tables", values=Mock(return_value=[])))
    recovery.active_highwaters[CHANGELOG] = 9
    recovery.active_offsets[CHANGELOG] = 3
    assert recovery.active_remaining() == {CHANGELOG: 6}


class Delivering(Fetching):
    """Active partitions whose fetcher hands a record to the agent's channel queue the moment
    a stream partition is resumed, as the consumer's fetcher may."""

    def __init__(self, steps: list[tuple[str, Any]], queue: Any) -> None:
        super().__init__(steps)
        self.queue = queue

    def update(self, *others: Any) -> None:
        super().update(*others)
        for tp in sorted(set().union(*others) - {CHANGELOG}):
            self.queue.force_put_nowait(("record", tp.partition, 120))


def delivering_app_and_consumer(app: faust.App) -> tuple[RecordingConsumer, Any]:
    """A consumer whose resume delivers a record into an agent's channel queue, and Faust's
    real flow control, which empties that queue when it resumes (clear_on_resume, as Faust
    makes every channel's queue)."""
    from mode.utils.queues import FlowControlEvent, FlowControlQueue

    flow = FlowControlEvent()
    flow.suspend()  # a rebalance suspended it
    app.flow_control = flow  # type: ignore[misc]
    queue: Any = FlowControlQueue(maxsize=10, flow_control=flow, clear_on_resume=True)
    consumer = RecordingConsumer({STREAM_0: 120, STREAM_1: 7})
    consumer._active_partitions = Delivering(consumer.steps, queue)
    return consumer, queue


def test_records_fetched_as_streams_resume_reach_the_agent(patched: None,
                                                           app: faust.App) -> None:
    consumer, queue = delivering_app_and_consumer(app)
    recovery = recovery_with(app, consumer)
    asyncio.run(recovery.on_recovery_completed())
    # both first records are still in the agent's queue: nothing emptied it after the resume
    assert sorted(queue._queue) == [("record", 0, 120), ("record", 1, 120)]


def test_without_the_patch_the_flow_resume_throws_those_records_away(app: faust.App) -> None:
    """The loss, on Faust's own code: resumed before the flow, the records fetched meanwhile
    sit in the agent's queue, and the flow's resume empties it; the consumer had counted them
    as read, so they are never fetched again."""
    consumer, queue = delivering_app_and_consumer(app)
    consumer.resume_partitions = (  # type: ignore[method-assign]
        lambda tps: faust_fixes._original_resume(consumer, tps))
    consumer.perform_seek = lambda: faust_fixes._original_seek(consumer)  # type: ignore
    recovery = recovery_with(app, consumer)
    original = faust_fixes._originals()["Recovery.on_recovery_completed"]
    asyncio.run(original(recovery))
    assert ("resumed", frozenset({STREAM_0, STREAM_1})) in consumer.steps
    assert list(queue._queue) == []


ROUTED = TP("telemetry.meter", 2)


def committing(committed: int | None, acked: list[int], gaps: list[tuple[int, int]] = ()
               ) -> Any:  # type: ignore[assignment]
    """What Faust's commit reads of its consumer for one partition."""
    from collections import defaultdict

    from intervaltree import IntervalTree

    tree = IntervalTree()
    for begin, end in gaps:
        tree.addi(begin, end)
    return SimpleNamespace(_acked=defaultdict(list, {ROUTED: list(acked)}),
                           _acked_index=defaultdict(set, {ROUTED: set(acked)}),
                           _gap=defaultdict(IntervalTree, {ROUTED: tree}),
                           _committed_offset=defaultdict(lambda: None, {ROUTED: committed}))


def test_a_record_lost_at_the_head_holds_the_commit() -> None:
    faust_fixes.commits_stop_at_a_missing_record({ROUTED.topic})
    lost_head = committing(12, [13, 14, 15])  # 12 was handed over and never acked
    assert Consumer._new_offset(lost_head, ROUTED) is None
    assert lost_head._acked[ROUTED] == [13, 14, 15]  # kept for when 12 comes
    # what Faust alone does: commits 16, past the record that was never processed
    assert faust_fixes._original_new_offset(committing(12, [13, 14, 15]), ROUTED) == 16


def test_a_gap_in_a_routed_topic_is_a_lost_record_not_a_hole_to_skip() -> None:
    faust_fixes.commits_stop_at_a_missing_record({ROUTED.topic})
    dropped = committing(12, [12, 13, 16, 17], gaps=[(14, 16)])  # 14-15 dropped on the way
    assert Consumer._new_offset(dropped, ROUTED) == 14
    assert faust_fixes._original_new_offset(
        committing(12, [12, 13, 16, 17], gaps=[(14, 16)]), ROUTED) == 18


def test_the_commit_moves_on_over_acked_records_and_elsewhere_as_faust_does() -> None:
    faust_fixes.commits_stop_at_a_missing_record({ROUTED.topic})
    assert Consumer._new_offset(committing(12, [12, 13, 14]), ROUTED) == 15
    other = TP("some.other.topic", 0)  # not an agent's topic: Faust's own rule
    state = committing(12, [13, 14])
    state._acked[other], state._committed_offset[other] = state._acked.pop(ROUTED), 12
    state._acked_index[other] = state._acked_index.pop(ROUTED)
    state._gap[other] = state._gap[ROUTED]
    assert Consumer._new_offset(state, other) == 15


def test_offsets_a_fetch_moved_past_without_a_record_are_known_exactly() -> None:
    skipped = faust_fixes.skipped_offsets
    assert skipped(10, [10, 11, 12], 13) == []  # a record at every offset
    assert skipped(10, [], 10) == []
    # a transaction's marker after each record (measured on the embedded broker)
    assert skipped(0, [0, 2, 4], 6) == [(0 + 1, 2), (3, 4), (5, 6)]
    assert skipped(7, [9], 10) == [(7, 9)]  # markers (or compacted records) before the first
    assert skipped(7, [], 9) == [(7, 9)]  # a fetch of markers only: no record, position moved
    assert skipped(10, [4, 5], 6) == []  # sought back while the fetch waited: not known
    assert skipped(10, [12], 11) == []  # a position behind its records: not known


def test_a_commit_passes_offsets_without_a_record_and_waits_at_a_lost_one() -> None:
    faust_fixes.commits_stop_at_a_missing_record({ROUTED.topic})
    state = committing(1, [2, 4])  # 1 and 3: a producer's transaction markers
    setattr(state, faust_fixes._SKIPPED, {ROUTED: [(1, 2), (3, 4), (5, 6)]})
    assert Consumer._new_offset(state, ROUTED) == 5
    assert getattr(state, faust_fixes._SKIPPED)[ROUTED] == [(5, 6)]  # for the next commit
    lost = committing(0, [1, 2])  # 0 holds a record (the fetch did not skip it): lost on the way
    setattr(lost, faust_fixes._SKIPPED, {ROUTED: [(3, 4)]})
    assert Consumer._new_offset(lost, ROUTED) is None


class Position:
    def __init__(self, position: int | None) -> None:
        self._position = position


class FetchingFrom:
    """aiokafka's consumer as the fetch sees it: positions, and records that move them."""

    def __init__(self, positions: dict[TP, int], records: dict[TP, list[int]],
                 after: dict[TP, int]) -> None:
        self.states = {tp: Position(at) for tp, at in positions.items()}
        self.records, self.after = records, after
        assignment = SimpleNamespace(state_value=self.states.get)
        self._subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=assignment))

    def assignment(self) -> set[TP]:
        return set(self.states)

    async def fetched(self, *_: Any, **__: Any) -> dict[TP, list[Any]]:
        for tp, at in self.after.items():
            self.states[tp]._position = at
        return {tp: [SimpleNamespace(offset=o) for o in offsets]
                for tp, offsets in self.records.items()}


def test_a_fetch_notes_the_offsets_it_moved_past_without_a_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    faust_fixes.commits_stop_at_a_missing_record({ROUTED.topic})
    plain = TP("telemetry.meter", 3)
    aiokafka = FetchingFrom({ROUTED: 0, plain: 50}, {ROUTED: [0, 2], plain: [50, 51]},
                            {ROUTED: 4, plain: 52})
    monkeypatch.setattr(faust_fixes, "_original_fetch_records", aiokafka.fetched)
    consumer = SimpleNamespace(_active_partitions={ROUTED, plain}, _buffered_partitions=set())
    thread = SimpleNamespace(consumer=consumer)
    records = asyncio.run(faust_fixes._fetch_records(thread, aiokafka, {ROUTED, plain}))
    assert [r.offset for r in records[ROUTED]] == [0, 2]
    assert getattr(consumer, faust_fixes._SKIPPED) == {ROUTED: [(1, 2), (3, 4)]}


def test_the_project_pins_exactly_the_faust_and_aiokafka_the_patches_accept() -> None:
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    pinned = {}
    for spec in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        name, _, rest = spec.partition("==")
        if rest:
            pinned[name.split("[")[0].strip()] = rest.strip()
    assert pinned["faust-streaming"] == faust_fixes.WRITTEN_FOR == version("faust-streaming")
    assert pinned["aiokafka"] == version("aiokafka")


OTHER = TP("app-meter_hourly-changelog", 1)


class StartingConsumer(RecordingConsumer):
    """The broker's answer to Faust's start-offset question: every changelog starts at 0."""

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)


def test_a_changelog_partition_held_whole_recovers_from_its_end(patched: None,
                                                                app: faust.App) -> None:
    faust_fixes.kept_partitions_recover_nothing()
    consumer = StartingConsumer({STREAM_0: 120, STREAM_1: 7})
    recovery = recovery_with(app, consumer)
    recovery.active_tps.update({CHANGELOG, OTHER})
    asyncio.run(recovery._resume_streams())  # a recovery step run to its end
    assert getattr(recovery, faust_fixes._WHOLE) == {CHANGELOG, OTHER}

    recovery.revoke(OTHER)  # taken away by a rebalance: another worker may write it now
    # the next rebalance gives both back: their ends, and where the last recovery stopped
    recovery.active_highwaters.update({CHANGELOG: 500, OTHER: 300})
    recovery.active_offsets.update({CHANGELOG: 20, OTHER: None})  # as ``add_active`` sets
    asyncio.run(recovery._build_offsets(consumer, {CHANGELOG, OTHER}, recovery.active_offsets,
                                        "active"))
    # this worker's own writes since (21-500) are in memory: none read back
    assert recovery.active_offsets[CHANGELOG] == 500
    # the one that was away is read from its start, as Faust would (earliest - 1)
    assert recovery.active_offsets[OTHER] == -1


def test_a_recovery_step_cut_short_by_a_rebalance_marks_nothing_whole(
        patched: None, app: faust.App) -> None:
    faust_fixes.kept_partitions_recover_nothing()
    consumer = StartingConsumer({STREAM_0: 120, STREAM_1: 7})
    recovery = recovery_with(app, consumer)
    recovery.active_tps.update({CHANGELOG})
    app.consumer_generation_id = 5  # a new rebalance came: the step for 4 returns early
    asyncio.run(recovery._resume_streams(generation_id=4))
    assert getattr(recovery, faust_fixes._WHOLE, set()) == set()
    recovery.active_highwaters.update({CHANGELOG: 500})
    recovery.active_offsets.update({CHANGELOG: None})  # as ``add_active`` sets
    asyncio.run(recovery._build_offsets(consumer, {CHANGELOG}, recovery.active_offsets,
                                        "active"))
    assert recovery.active_offsets[CHANGELOG] == -1  # read whole, from its start
