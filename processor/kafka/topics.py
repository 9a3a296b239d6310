"""Topic names (fixed by DESIGN.md section 3) and their explicit creation."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from processor.domain.kinds import KINDS
from processor.domain.kinds import METER as METER_KIND
from processor.domain.kinds import VEHICLE as VEHICLE_KIND
from processor.errors import StartupError
from processor.kafka.security import client_config

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


def topic_config(name: str) -> dict[str, str]:
    """Changelogs are compacted: the latest value of every key is kept, whatever its age, so a
    device silent for longer than the retention period is still in the recovered tables."""
    return {"cleanup.policy": "compact"} if name.endswith("-changelog") else {}


def ensure_topics(bootstrap: str, app_id: str, partitions: int, timeout: float = 30.0) -> None:
    """Create missing topics; refuse to go on if one exists with the wrong partition count.

    A broker that auto-creates topics (Tansu makes 4 partitions) would otherwise hand Faust a
    topic whose partitions disagree with its tables, and the worker would crash later.
    """
    admin = AdminClient(client_config(bootstrap))
    wanted = required_topics(app_id, partitions)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise ConnectionError(broker_unreachable_message(bootstrap)) from exc
    missing = [NewTopic(t, num_partitions=n, replication_factor=-1, config=topic_config(t))
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


def broker_unreachable_message(bootstrap: str) -> str:
    return (
        f"cannot reach Kafka at {bootstrap}. Start the broker there, fix "
        "KAFKA_BOOTSTRAP_SERVERS, or unset it to start the embedded broker."
    )
