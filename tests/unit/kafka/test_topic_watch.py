"""When the broker watch asks for topic ids (processor/kafka/admin.py ``TopicWatch``)."""

from __future__ import annotations

from processor.kafka.admin import TopicWatch

KNOWN = {"telemetry.raw": ("id-raw", 8), "telemetry.dlq": ("id-dlq", 8)}
SAME = {"telemetry.raw": 8, "telemetry.dlq": 8}


def test_unchanged_metadata_asks_for_ids_only_every_nth_look() -> None:
    watch = TopicWatch(KNOWN, ids_every=30)
    asked = [watch.asks_ids(SAME) for _ in range(90)]
    assert [i for i, a in enumerate(asked) if a] == [29, 59, 89]


def test_a_missing_topic_asks_for_ids_at_once() -> None:
    watch = TopicWatch(KNOWN, ids_every=30)
    assert not watch.asks_ids(SAME)
    assert watch.asks_ids({"telemetry.raw": 8})


def test_another_partition_count_asks_for_ids_at_once_and_starts_the_count_again() -> None:
    watch = TopicWatch(KNOWN, ids_every=3)
    assert not watch.asks_ids(SAME)
    assert watch.asks_ids({"telemetry.raw": 4, "telemetry.dlq": 8})  # auto-created by a broker
    assert [watch.asks_ids(SAME) for _ in range(3)] == [False, False, True]


def test_an_extra_topic_in_the_metadata_changes_nothing() -> None:
    watch = TopicWatch(KNOWN, ids_every=30)
    assert not watch.asks_ids({**SAME, "other": 1})
