"""How the topic settings become each topic's replication and configuration."""

from __future__ import annotations

from processor.kafka.topics import RAW, TopicLayout, required_topics
from processor.settings import Settings


def test_the_settings_lay_out_every_topic() -> None:
    layout = TopicLayout.from_settings(Settings(topic_replication_factor=3,
                                                topic_min_insync_replicas=2,
                                                raw_retention_hours=0.5))
    assert layout == TopicLayout(replication=3, min_insync=2, raw_retention_ms=1_800_000)
    for name in required_topics("energy-ingest", 8):
        config = layout.config(name)
        assert config["min.insync.replicas"] == "2"
        assert (config.get("cleanup.policy") == "compact") == name.endswith("-changelog")
        assert ("retention.ms" in config) == (name == RAW)
    assert layout.config(RAW)["retention.ms"] == "1800000"


def test_the_defaults_suit_one_broker() -> None:
    assert TopicLayout.from_settings(Settings()) == TopicLayout(1, 1, 7 * 24 * 3600 * 1000)
