"""The topics the system creates carry the replication and configuration the settings ask for
(on the embedded broker, one broker: replication 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from processor.errors import StartupError
from processor.kafka.topics import RAW, TopicLayout, ensure_topics, required_topics
from processor.ops.embedded import EmbeddedBroker
from tests.conftest import APP_ID, PARTITIONS

pytestmark = pytest.mark.integration


def configs(admin: AdminClient, topic: str) -> dict[str, str]:
    (future,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return {name: entry.value for name, entry in future.result(10).items()}


@pytest.fixture
def bare_broker(tmp_path: Path) -> Iterator[str]:
    """A broker with no topic yet."""
    broker = EmbeddedBroker.start(tmp_path)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def test_topics_are_created_with_the_replication_and_retention_asked_for(bare_broker: str
                                                                         ) -> None:
    layout = TopicLayout(replication=1, min_insync=1, raw_retention_ms=2 * 3600 * 1000)
    ensure_topics(bare_broker, APP_ID, PARTITIONS, layout=layout)
    admin = AdminClient({"bootstrap.servers": bare_broker})
    topics = admin.list_topics(timeout=10).topics
    for name in required_topics(APP_ID, PARTITIONS):
        assert {len(p.replicas) for p in topics[name].partitions.values()} == {1}, name
        found = configs(admin, name)
        assert found.get("min.insync.replicas") == "1", (name, found)
        if name.endswith("-changelog"):
            assert found.get("cleanup.policy") == "compact", (name, found)
    assert configs(admin, RAW)["retention.ms"] == str(2 * 3600 * 1000)


def test_more_in_sync_replicas_than_copies_is_refused_naming_both_settings() -> None:
    with pytest.raises(StartupError, match="TOPIC_MIN_INSYNC_REPLICAS=2 is more than "
                                           "TOPIC_REPLICATION_FACTOR=1"):
        TopicLayout(replication=1, min_insync=2)
