"""The broker watch's looks on the real broker: the metadata says what the ids would, and a
look that needs no ids leaves nothing behind (confluent-kafka leaks an object per topic id
``describe_topics`` hands over: asked at every look, 5 topics every 10 s, that was 29 objects
a minute in a worker, seen in the chaos soak of 2026-12-07)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from processor.kafka.admin import TopicWatch, look, lost_topics, topic_ids, topic_partitions
from processor.ops.embedded import EmbeddedBroker

pytestmark = pytest.mark.integration

NAMES = ("watched.a", "watched.b", "watched.c")


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[str]:
    broker = EmbeddedBroker.start(tmp_path)
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic(n, num_partitions=i + 1,
                                                    replication_factor=1)
                                           for i, n in enumerate(NAMES)]).values():
            future.result(10)
        yield broker.bootstrap
    finally:
        broker.stop()


def objects_by_type() -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_the_metadata_gives_the_partition_counts_the_ids_come_with(watched: str) -> None:
    ids = topic_ids(watched, NAMES)
    assert topic_partitions(watched, (*NAMES, "not.there")) == {
        name: count for name, (_, count) in ids.items()} == {
        "watched.a": 1, "watched.b": 2, "watched.c": 3}


def test_looks_that_need_no_ids_leave_no_objects_behind(watched: str) -> None:
    watch = TopicWatch(topic_ids(watched, NAMES), ids_every=1000)
    look(watched, NAMES, watch)  # the first client's lasting objects, if any
    gc.collect()
    before = objects_by_type()
    assert all(look(watched, NAMES, watch) is None for _ in range(40))
    gc.collect()
    after = objects_by_type()
    grown = {name: after[name] - before.get(name, 0) for name in after
             if after[name] > before.get(name, 0)}
    assert not grown


def test_a_topic_gone_from_the_metadata_is_named_at_the_next_look(watched: str) -> None:
    known = topic_ids(watched, NAMES)
    known["watched.gone"] = ("an-id-the-broker-lost", 8)  # as if deleted since
    now = look(watched, NAMES + ("watched.gone",), TopicWatch(known, ids_every=1000))
    assert now is not None
    assert lost_topics(known, now) == ["watched.gone"]
