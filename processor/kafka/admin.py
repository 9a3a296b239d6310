"""Topic identities from the broker: a topic recreated (or lost by a broker that keeps
nothing, like the embedded one) has a new id.

Asking for ids costs memory in confluent-kafka (2.16.2): each ``describe_topics`` answer leaks
the ``Uuid`` object of every topic it describes (never freed, whatever the caller does with
the answer; ``tests/integration/test_topic_watch.py`` counts them). The broker's metadata
(``list_topics``) tells a topic's presence and partition count without one, so a watcher asks
for ids only when the metadata changed, and otherwise now and then (``TopicWatch``).
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from processor.kafka.security import client_config

Ids = dict[str, tuple[str, int]]  # topic -> (topic id, partition count)


def short_lived_admin(bootstrap: str) -> AdminClient:
    # log_level 4: no librdkafka info lines each time this short-lived client is dropped
    return AdminClient(client_config(bootstrap, log_level=4))


def topic_ids(bootstrap: str, names: tuple[str, ...], timeout: float = 10.0) -> Ids:
    """name -> (topic id, partition count) for the topics that exist."""
    admin = short_lived_admin(bootstrap)
    out = {}
    futures = admin.describe_topics(TopicCollection(list(names)), request_timeout=timeout)
    for name, fut in futures.items():
        try:
            desc = fut.result(timeout)
        except KafkaException as exc:
            if "UNKNOWN_TOPIC" in str(exc):
                continue
            raise
        out[name] = (str(desc.topic_id), len(desc.partitions))
    return out


def topic_partitions(bootstrap: str, names: tuple[str, ...], timeout: float = 10.0
                     ) -> dict[str, int]:
    """name -> partition count for the topics that exist, from the broker's metadata."""
    found = short_lived_admin(bootstrap).list_topics(timeout=timeout).topics
    return {name: len(found[name].partitions) for name in names
            if name in found and found[name].error is None}


def lost_topics(before: Ids, now: Ids) -> list[str]:
    return [name for name, ident in before.items() if now.get(name) != ident]


class TopicWatch:
    """When a watcher of ``known`` topics asks for their ids: at once when the metadata shows
    a topic missing or with another partition count, and otherwise every ``ids_every``-th look,
    for a topic deleted and recreated alike between two looks."""

    def __init__(self, known: Ids, ids_every: int) -> None:
        self.known = known
        self.ids_every = ids_every
        self.looks = 0

    def asks_ids(self, partitions: Mapping[str, int]) -> bool:
        self.looks += 1
        changed = any(partitions.get(name) != count for name, (_, count) in self.known.items())
        if changed or self.looks >= self.ids_every:
            self.looks = 0
            return True
        return False


def look(bootstrap: str, names: tuple[str, ...], watch: TopicWatch) -> Ids | None:
    """One look of a watcher: the topics' ids when ``watch`` asks for them, else None."""
    if not watch.asks_ids(topic_partitions(bootstrap, names)):
        return None
    return topic_ids(bootstrap, names)
