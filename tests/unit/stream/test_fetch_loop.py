"""Faust's fetch loop (``Consumer._drain_messages`` and ``getmany``, the real code, no broker)
through a rebalance that runs to its end while the loop holds a record: the loss of
processor/stream/faust_fixes.py, 8.

Every ``broker_commit_every`` acks the loop awaits a commit between taking a record and handing
it over. When a rebalance begins and ends meanwhile, the loop's next step hands the old
generation's record over and sets the partition's read offset to it, over the committed offset
the rebalance's seek had set: the fetch from the commit then drops the records below it as
already read. The record at the commit, taken from its agent's queue by the revocation, never
reaches an agent again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from processor.app import faust_app
from processor.settings import Settings
from processor.stream.faust_fixes import COMMIT_EVERY_NEVER

RAW = TP("telemetry.raw", 0)
FAUST_DEFAULT = 10_000  # broker_commit_every


def record(offset: int) -> ConsumerRecord:  # type: ignore[type-arg]
    return ConsumerRecord(RAW.topic, RAW.partition, offset, 0, 0, b"k", b"v", None, 1, 1, ())


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


def rebalance_while_a_record_is_held(commit_every: int) -> list[tuple[int, int]]:
    """Committed 100. Generation 1 fetches 100 and 101; 100 is handed over (then taken from
    the agent's queue by the revocation: never processed), and the agents' acks reach
    ``commit_every`` just before 101. A rebalance runs to its end: generation 2, sought to 100,
    fetches 100-102. The (offset, generation) of every record the loop hands over."""
    async def play() -> list[tuple[int, int]]:
        app = faust.App("fetch-loop-test", broker="kafka://127.0.0.1:1",
                        broker_commit_every=commit_every)
        consumer: Any = app.consumer
        app.consumer_generation_id = 1
        handed: list[tuple[int, int]] = []
        cleared = asyncio.Event()  # the revocation's flow_control.clear() empties the queue

        async def hand_over(message: Any) -> None:  # the conductor's put into a queue
            handed.append((message.offset, message.generation_id))
            if message.generation_id == 1 and message.offset > 100:
                await cleared.wait()  # the queue is full until then

        fetches: asyncio.Queue[dict[TP, list[ConsumerRecord]]] = asyncio.Queue()  # type: ignore[type-arg]

        async def next_records(timeout: float) -> tuple[object, set[TP]]:
            return await fetches.get(), {RAW}

        commit_started, commit_done = asyncio.Event(), asyncio.Event()

        async def commit(*args: object, **kwargs: object) -> bool:  # waits out the rebalance
            commit_started.set()
            await commit_done.wait()
            return False

        consumer.callback = hand_over
        consumer._wait_next_records = next_records
        consumer.commit = commit
        consumer.highwater = lambda tp: 1_000

        class Fetcher:
            _stopped = asyncio.Event()

        consumer._read_offset[RAW] = consumer._committed_offset[RAW] = 100
        loop = asyncio.ensure_future(consumer._drain_messages(Fetcher()))
        try:
            await fetches.put({RAW: [record(100), record(101)]})
            while not handed:
                await asyncio.sleep(0)
            consumer._n_acked = FAUST_DEFAULT  # the agents' acks since the loop last committed
            await settle()
            # the rebalance, as Faust's consumer and recovery do it
            consumer._read_offset.pop(RAW, None)  # Consumer.on_partitions_revoked
            consumer.stop_flow()  # the app's revocation
            cleared.set()
            await settle()
            app.consumer_generation_id = 2  # the new assignment
            consumer._read_offset.update({RAW: 100})  # perform_seek: to the commit
            consumer.resume_flow()
            commit_done.set()
            await fetches.put({RAW: [record(100), record(101), record(102)]})
            await settle()
            assert commit_started.is_set() == (commit_every == FAUST_DEFAULT)
            return handed
        finally:
            loop.cancel()
    return asyncio.run(play())


def new_generation(handed: list[tuple[int, int]]) -> list[int]:
    return [offset for offset, generation in handed if generation == 2]


@pytest.mark.parametrize("commit_every", [FAUST_DEFAULT, COMMIT_EVERY_NEVER])
def test_the_record_at_the_commit_reaches_the_new_generation(commit_every: int) -> None:
    handed = rebalance_while_a_record_is_held(commit_every)
    if commit_every == FAUST_DEFAULT:
        # Faust's loop held 101 through the rebalance in its commit, handed it over afterwards
        # and set the read offset to it: 100, fetched again, was dropped as already read
        assert (101, 1) in handed
        assert new_generation(handed) == [101, 102]
    else:
        assert new_generation(handed) == [100, 101, 102]


def test_the_worker_app_never_commits_from_its_fetch_loop(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path,  # type: ignore[call-arg]
                        kafka_bootstrap_servers="127.0.0.1:9092")
    assert faust_app(settings).conf.broker_commit_every == COMMIT_EVERY_NEVER
