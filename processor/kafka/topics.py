"""Topic names (the contract in docs/architecture.md, section 1) and their explicit creation."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from processor.domain.kinds import KINDS
from processor.domain.kinds import METER as METER_KIND
from processor.domain.kinds import VEHICLE as VEHICLE_KIND
from processor.errors import StartupError
from processor.kafka.security import client_config
from processor.settings import Settings, get_settings

log = logging.getLogger(__name__)

RAW = "telemetry.raw"
METER = METER_KIND.topic  # each kind's routed batches: telemetry.meter, telemetry.vehicle
VEHICLE = VEHICLE_KIND.topic
DLQ = "telemetry.dlq"
ALERTS = "alerts.efficiency"
TELEMETRY_TOPICS = (RAW, *(kind.topic for kind in KINDS.values()), DLQ, ALERTS)

# Faust tables; their changelog topics must exist before the worker starts.
TABLES = tuple(table for kind in KINDS.values() for table in (kind.live_table, kind.hourly_table))


def required_topics(app_id: str, partitions: int) -> dict[str, int]:
    """Every topic the system needs, with its partition count."""
    topics = {name: partitions for name in TELEMETRY_TOPICS}
    for table in TABLES:
        topics[f"{app_id}-{table}-changelog"] = partitions
    topics[f"{app_id}-__assignor-__leader"] = 1
    return topics


@dataclass(frozen=True)
class TopicLayout:
    """How the topics the system creates are replicated and kept (``TOPIC_REPLICATION_FACTOR``,
    ``TOPIC_MIN_INSYNC_REPLICAS``, ``RAW_RETENTION_HOURS``); the defaults suit one broker."""

    replication: int = 1
    min_insync: int = 1
    raw_retention_ms: int = 7 * 24 * 3600 * 1000

    def __post_init__(self) -> None:
        if self.min_insync > self.replication:
            raise StartupError(
                f"TOPIC_MIN_INSYNC_REPLICAS={self.min_insync} is more than "
                f"TOPIC_REPLICATION_FACTOR={self.replication}: no record could ever be "
                "acknowledged. On three brokers: TOPIC_REPLICATION_FACTOR=3, "
                "TOPIC_MIN_INSYNC_REPLICAS=2.")

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicLayout:
        return cls(settings.topic_replication_factor, settings.topic_min_insync_replicas,
                   round(settings.raw_retention_hours * 3600 * 1000))

    def config(self, name: str) -> dict[str, str]:
        """A topic's configuration. Changelogs are compacted: the latest value of every key is
        kept, whatever its age, so a device silent for longer than the retention period is still
        in the recovered tables. The raw topic keeps its readings ``raw_retention_ms``."""
        config = {"min.insync.replicas": str(self.min_insync)}
        if name.endswith("-changelog"):
            config["cleanup.policy"] = "compact"
        if name == RAW:
            config["retention.ms"] = str(self.raw_retention_ms)
        return config


def connected_admin(bootstrap: str, timeout: float) -> tuple[AdminClient, dict[str, Any]]:
    """An admin client that got the brokers' metadata (returned with it), or ConnectionError
    saying why not. Asked in rounds of 5 s: a refused TLS or SASL is final, said at once, with
    librdkafka's reason (its error callbacks) rather than as an unreachable address."""
    errors: list[str] = []
    # librdkafka's own log lines go through ``log``, served by poll(): written by its thread
    # straight to stderr, they came after the error that ends the command (its last line)
    admin = AdminClient(client_config(bootstrap, error_cb=lambda err: errors.append(err.str()),
                                      logger=log))
    deadline = time.monotonic() + timeout
    while True:
        try:
            topics = admin.list_topics(
                timeout=max(0.1, min(5.0, deadline - time.monotonic()))).topics
            return admin, topics
        except KafkaException as exc:
            admin.poll(0)  # serves the error callbacks librdkafka queued meanwhile
            if security_refusals(errors) or time.monotonic() >= deadline:
                raise ConnectionError(broker_unreachable_message(bootstrap, errors)) from exc


def ensure_topics(bootstrap: str, app_id: str, partitions: int, timeout: float = 30.0,
                  layout: TopicLayout | None = None) -> None:
    """Create missing topics (laid out as ``layout``, by default this process's settings);
    refuse to go on if one exists with the wrong partition count.

    A broker that auto-creates topics (Tansu makes 4 partitions) would otherwise hand Faust a
    topic whose partitions disagree with its tables, and the worker would crash later. Topics
    that exist keep their replication and configuration (change those with the broker's tools).
    """
    layout = layout or TopicLayout.from_settings(get_settings())
    admin, existing = connected_admin(bootstrap, timeout)
    wanted = required_topics(app_id, partitions)
    missing = [NewTopic(t, num_partitions=n, replication_factor=layout.replication,
                        config=layout.config(t))
               for t, n in wanted.items() if t not in existing]
    if missing:
        futures = admin.create_topics(missing, operation_timeout=timeout)
        for name, fut in futures.items():
            try:
                fut.result(timeout)
                log.info("created topic %s (%d partitions)", name, wanted[name])
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    existing = admin.list_topics(timeout=timeout).topics
    wrong = {t: len(existing[t].partitions) for t, n in wanted.items()
             if t in existing and len(existing[t].partitions) != n}
    if wrong:
        raise StartupError(
            f"topics exist on {bootstrap} with the wrong partition count (want {partitions}): "
            f"{wrong}. Delete them or set TELEMETRY_PARTITIONS to match.")


# librdkafka's words for a broker that answered but refused the connection's security
SECURITY_REFUSALS = ("SSL handshake failed", "SASL authentication", "Authentication failed")


def security_refusals(errors: Sequence[str]) -> list[str]:
    return [e for e in errors if any(words in e for words in SECURITY_REFUSALS)]


def broker_unreachable_message(bootstrap: str, errors: Sequence[str] = ()) -> str:
    """Why no client got through to ``bootstrap``, and what to do: a TLS or SASL refusal
    (from the client's ``errors``) names the settings to check rather than the address."""
    refused = security_refusals(errors)
    if refused:
        reason = refused[-1].split(": ", 1)[-1] if "/bootstrap: " in refused[-1] else refused[-1]
        return (f"Kafka at {bootstrap} refused the connection's security: {reason}. Check "
                "KAFKA_SECURITY_PROTOCOL, KAFKA_SSL_CA_FILE (the CA that signed the brokers' "
                "certificates) and the KAFKA_SASL_* login.")
    return (
        f"cannot reach Kafka at {bootstrap}. Start the broker there, fix "
        "KAFKA_BOOTSTRAP_SERVERS, or unset it to start the embedded broker."
    )
