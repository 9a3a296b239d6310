"""A partition a rebalance paused stays paused until its recovery resumes it, whatever drops
its full buffer meanwhile (processor/stream/faust_fixes.py, adjustment 9): Faust's real
consumer bookkeeping and mode's real flow-controlled queue, no broker.

Faust's ``on_buffer_drop`` put such a partition back into the fetched set: fetched while the
recovery ran, its first records reached the agent's queue, and the recovery's last step
(``app.flow_control.resume()``, which empties every agent queue) threw away those the agent had
not taken, while the consumer counted them as read. That was the hole at the commit that the
chaos soaks met after rebalances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import faust
import pytest
from faust.types import TP
from mode.utils.queues import FlowControlEvent, FlowControlQueue

from processor.stream import backpressure, faust_fixes

RAW = TP("telemetry.raw", 1)


def consumer_in_recovery(install: bool) -> Any:
    """A consumer that held RAW for a full buffer, then went through a rebalance that gave it
    RAW again: paused, as Faust's assignment leaves its partitions until the recovery's end."""
    if install:
        faust_fixes.pauses_hold_through_buffer_drops()
    consumer: Any = faust.App("buffer-drop-test", broker="kafka://127.0.0.1:1").consumer
    consumer._set_active_tps({RAW})
    consumer.on_buffer_full(RAW)  # an agent's queue under pressure, or the router gate
    consumer.pause_partitions({RAW})  # the revocation
    consumer._set_active_tps({RAW})  # Consumer.on_partitions_assigned
    consumer.pause_partitions({RAW})  # the app's assignment: paused until the recovery's end
    return consumer


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
        with pytest.raises(asyncio.TimeoutError):  # the agent asks an empty queue for more
            await asyncio.wait_for(queue.get(), 0.01)
    asyncio.run(play())


@pytest.mark.parametrize("drop", [drop_by_the_gate, drop_by_the_queue])
def test_a_paused_partition_stays_paused_when_its_buffer_drops(
        drop: Callable[[Any], None]) -> None:
    consumer = consumer_in_recovery(install=True)
    drop(consumer)
    assert RAW not in consumer._get_active_partitions()  # not fetched during the recovery
    consumer.resume_partitions({RAW})  # the recovery's end
    assert RAW in consumer._get_active_partitions()
    drop(consumer)  # a later drop changes nothing
    assert RAW in consumer._get_active_partitions()


@pytest.mark.parametrize("drop", [drop_by_the_gate, drop_by_the_queue])
def test_faust_fetched_a_paused_partition_again_when_its_buffer_dropped(
        drop: Callable[[Any], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust.transport.consumer.Consumer, "on_buffer_drop",
                        faust_fixes._original_buffer_drop)
    consumer = consumer_in_recovery(install=False)
    drop(consumer)
    assert RAW in consumer._get_active_partitions()  # fetched while the recovery holds it


def test_a_drop_still_resumes_a_partition_nothing_paused() -> None:
    faust_fixes.pauses_hold_through_buffer_drops()
    consumer: Any = faust.App("buffer-drop-test", broker="kafka://127.0.0.1:1").consumer
    consumer._set_active_tps({RAW})
    backpressure.hold(consumer, {RAW})
    assert RAW not in consumer._get_active_partitions()
    backpressure.release(consumer, {RAW})
    assert RAW in consumer._get_active_partitions()
