"""Topic identities from the broker: a topic recreated (or lost by a broker that keeps
nothing, like the embedded one) has a new id."""

from __future__ import annotations

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

from processor.kafka.security import client_config


def topic_ids(bootstrap: str, names: tuple[str, ...], timeout: float = 10.0
              ) -> dict[str, tuple[str, int]]:
    """name -> (topic id, partition count) for the topics that exist."""
    # log_level 4: no librdkafka info lines each time this short-lived client is dropped
    admin = AdminClient(client_config(bootstrap, log_level=4))
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


def lost_topics(before: dict[str, tuple[str, int]], now: dict[str, tuple[str, int]]) -> list[str]:
    return [name for name, ident in before.items() if now.get(name) != ident]
