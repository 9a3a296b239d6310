"""A partition a rebalance paused is neither fetched nor handed over until its recovery resumes
it, whatever held it for a full buffer before (processor/stream/faust_fixes.py, adjustment 9):
Faust's real consumer bookkeeping and ``getmany``, mode's real flow-controlled queue, no broker.

Faust keeps a partition held for a full buffer (an agent's queue under pressure, or the router
gate) in ``_buffered_partitions`` through revocations and pauses: its ``getmany`` handed that
partition's records over while the recovery held it paused, and ``on_buffer_drop`` put it back
into the fetched set. Its first records then reached the agent's queue before the recovery's
last step (``app.flow_control.resume()``, which empties every agent queue) threw away those
the agent had not taken, while the consumer counted them as read: the hole at the commit the
chaos soaks met after rebalances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport.consumer import Consumer
from faust.types import TP
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from processor.stream import backpressure, faust_fixes

RAW = TP("telemetry.raw", 1)


@pytest.fixture(params=["ours", "faust"])
def code(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    faust_fixes.pauses_end_buffer_holds()
    if request.param == "faust":
        for name, original in (("pause_partitions", faust_fixes._original_pause),
                               ("on_buffer_full", faust_fixes._original_buffer_full),
                               ("on_buffer_drop", faust_fixes._original_buffer_drop)):
            monkeypatch.setattr(Consumer, name, original)
    return str(request.param)


def consumer_in_recovery() -> Any:
    """A consumer that held RAW for a full buffer, then went through a rebalance that gave it
    RAW again: paused, as Faust's assignment leaves its partitions until the recovery's end."""
    consumer: Any = faust.App("buffer-hold-test", broker="kafka://127.0.0.1:1").consumer
    consumer._set_active_tps({RAW})
    backpressure.hold(consumer, {RAW})  # the router gate, or an agent's queue under pressure
    consumer.pause_partitions({RAW})  # the revocation
    consumer._set_active_tps({RAW})  # Consumer.on_partitions_assigned
    consumer.pause_partitions({RAW})  # the app's assignment: paused until the recovery's end
    return consumer


def handed_over(consumer: Any) -> list[int]:
    """What Faust's ``getmany`` hands over of a fetch that holds records of RAW (aiokafka
    prefetches every assigned partition)."""
    async def play() -> list[int]:
        async def next_records(timeout: float) -> tuple[Any, set[TP]]:
            return ({RAW: [ConsumerRecord(RAW.topic, RAW.partition, offset, 0, 0, b"k", b"v",
                                          None, 1, 1, ()) for offset in (100, 101)]},
                    consumer._get_active_partitions())
        consumer._wait_next_records = next_records
        consumer.highwater = lambda tp: 1_000
        return [message.offset async for _, message in consumer.getmany(timeout=0.1)]
    return asyncio.run(play())


def drop_by_the_gate(consumer: Any) -> None:
    backpressure.release(consumer, {RAW})  # a look in flight when the rebalance began


def drop_by_the_queue(consumer: Any) -> None:
    async def play() -> None:
        flow = FlowControlEvent(initially_suspended=False)
        queue: FlowControlQueue[int] = FlowControlQueue(maxsize=4, flow_control=flow,
                                                         clear_on_resume=True)
        for n in range(4):  # the conductor's puts: the last ones find the queue under pressure
            queue.put_nowait_enhanced(n, on_pressure_high=lambda: None,
                                      on_pressure_drop=lambda: consumer.on_buffer_drop(RAW))
        flow.clear()  # the revocation empties the agents' queues
        with pytest.raises(asyncio.TimeoutError):  # the agent asks the empty queue for more
            await asyncio.wait_for(queue.get(), 0.01)
    asyncio.run(play())


def test_a_held_partition_paused_by_a_rebalance_is_not_handed_over(code: str) -> None:
    consumer = consumer_in_recovery()
    consumer.app.flow_control.resume()  # Faust's recovery resumes the flow for the changelogs
    assert handed_over(consumer) == ([] if code == "ours" else [100, 101])


@pytest.mark.parametrize("drop", [drop_by_the_gate, drop_by_the_queue])
def test_a_paused_partition_stays_paused_when_its_buffer_drops(
        code: str, drop: Callable[[Any], None]) -> None:
    consumer = consumer_in_recovery()
    drop(consumer)
    if code == "faust":  # fetched again while the recovery holds it paused
        assert RAW in consumer._get_active_partitions()
        return
    assert RAW not in consumer._get_active_partitions()
    consumer.resume_partitions({RAW})  # the recovery's end
    assert RAW in consumer._get_active_partitions()
    assert handed_over(consumer) == [100, 101]
    drop(consumer)  # a later drop changes nothing
    assert RAW in consumer._get_active_partitions()


def test_holds_still_work_on_partitions_nothing_paused(code: str) -> None:
    consumer: Any = faust.App("buffer-hold-test", broker="kafka://127.0.0.1:1").consumer
    consumer._set_active_tps({RAW})
    backpressure.hold(consumer, {RAW})
    assert RAW not in consumer._get_active_partitions()
    backpressure.release(consumer, {RAW})
    assert RAW in consumer._get_active_partitions()
