"""A fetch takes from aiokafka only the records Faust will hand to a stream (adjustment 6 of
processor/stream/faust_fixes.py), on the real broker with a real aiokafka consumer.

Faust's fetch passes its live set of active partitions to aiokafka, which takes an empty set for
every partition, and Faust then drops the records of partitions that are not active while
aiokafka has moved their positions past them. The chaos soak lost readings this way in a
recovery's last step, when every partition is paused.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from processor.stream import faust_fixes

TOPIC = "telemetry.meter"
P0, P1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
RECORDS = 10


def produce(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition in (0, 1):
        for i in range(RECORDS):
            producer.produce(TOPIC, f"{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


async def prefetched(bootstrap: str) -> AIOKafkaConsumer:
    """A consumer of both partitions whose background fetch holds both partitions' records."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    consumer.assign([P0, P1])
    await from_the_start(consumer)
    return consumer


async def from_the_start(consumer: AIOKafkaConsumer) -> None:
    """Both partitions sought to their start, and their records fetched ahead in aiokafka's
    buffer (as its background fetch does for every assigned partition, paused by Faust or
    not)."""
    await consumer.seek_to_beginning(P0, P1)
    for _ in range(200):
        if all(tp in consumer._fetcher._records for tp in (P0, P1)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("aiokafka did not prefetch both partitions in 10 s")


def faust_side(active: set[Any]) -> Any:
    """What ``_fetch_records`` reads of Faust's consumer: its flow and its partition sets."""
    return SimpleNamespace(consumer=SimpleNamespace(
        flow_active=True, _active_partitions=active, _buffered_partitions=set()))


async def scenario(bootstrap: str) -> None:
    faust_fixes.fetches_hand_over_what_they_take()
    fetch = AIOKafkaConsumerThread._fetch_records
    consumer = await prefetched(bootstrap)
    try:
        # Every partition paused (a recovery's last step): nothing is taken.
        thread = faust_side(set())
        assert await fetch(thread, consumer, thread.consumer._active_partitions,
                           timeout=0.3) == {}
        assert (await consumer.position(P0), await consumer.position(P1)) == (0, 0)

        # Asked for both, but P1 left the active set while the fetch waited: only P0's
        # records are taken; P1 stays where its records begin.
        thread = faust_side({P0})
        taken = await fetch(thread, consumer, {P0, P1}, timeout=0.3)
        assert set(taken) == {P0}
        assert [r.offset for r in taken[P0]] == list(range(RECORDS))
        assert await consumer.position(P1) == 0

        # Once active again, P1's records come from its start.
        thread = faust_side({P0, P1})
        taken = {}
        for _ in range(50):
            taken.update(await fetch(thread, consumer, {P0, P1}, timeout=0.2))
            if P1 in taken:
                break
        assert [r.offset for r in taken[P1]] == list(range(RECORDS))

        # What the adjustment is for, on aiokafka and Faust's own code: an empty set takes
        # every partition's records, and their positions move past them.
        await from_the_start(consumer)
        thread = faust_side(set())
        taken = await faust_fixes._original_fetch_records(thread, consumer, set(),
                                                          timeout=0.3)  # type: ignore[arg-type]
        assert set(taken) == {P0, P1}
        assert (await consumer.position(P0), await consumer.position(P1)) == (RECORDS, RECORDS)
    finally:
        await consumer.stop()


def test_a_fetch_takes_only_what_faust_hands_over(own_broker: str) -> None:
    produce(own_broker)
    asyncio.run(scenario(own_broker))
