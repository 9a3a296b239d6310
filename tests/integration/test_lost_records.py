"""A record lost between the consumer and its agent, followed by later records of the same
partition, is never committed past, and the worker fetches it again by itself: on a routed topic
(a writer's record) and on ``telemetry.raw`` (the router's message).

The loss is injected from outside the product (``python -m tests.faults lose-first``): the
agent's record is taken from its stream and dropped, as Faust's consumer did when a flow resume
emptied the agents' queues (processor/stream/faust_fixes.py). Faust's own commit passed such a
record as soon as the next one was acked; the worker must hold the commit at it until it is
written, and its guard (processor/stream/watchdog.py) fetches it again. Offsets that hold no
record (a transactional producer's markers) are passed, without a refetch.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from processor.domain.partitioning import partition_for
from processor.kafka.producer import producer_config
from processor.stream.watchdog import LOST_AFTER
from tests.conftest import APP_ID, PARTITIONS
from tests.helpers import WORKER_COMMAND, http_json, publish, query, start_worker, uid, wait_until

pytestmark = pytest.mark.integration

LOSING = [sys.executable, "-m", "tests.faults", "lose-first", "telemetry.meter", "--after", "1",
          "--", *WORKER_COMMAND[3:]]


def committed(bootstrap: str, partition: int, topic: str = "telemetry.meter") -> int | None:
    """The offset the workers' group committed on ``topic``'s ``partition``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": APP_ID,
                         "enable.auto.commit": False})
    try:
        [tp] = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return tp.offset if tp.offset >= 0 else None
    finally:
        consumer.close()


def same_partition(prefix: str, count: int) -> list[str]:
    """``count`` meter ids whose routed batches land on one partition of telemetry.meter."""
    ids = [f"{prefix}-{i}" for i in range(200)]
    target = partition_for(ids[0], PARTITIONS)
    return [i for i in ids if partition_for(i, PARTITIONS) == target][:count]


def stored(dsn: str, meter: str) -> int:
    return int(query(dsn, "SELECT count(*) FROM meter_history WHERE meter_id = %s",
                     (meter,))[0][0])


def lose_then_heal(worker: Any, dsn: str, topic: str, send: Callable[[str], Any],
                   committed_at: Callable[[], int | None], lost: str, later: list[str]) -> None:
    """Send ``lost`` (the fault drops it on its way to ``topic``'s agent), then ``later``, one
    record each on the same partition, each stored. Faust alone would commit past the lost
    record as soon as a later one is acked: the commit must hold at it until it is fetched
    again and stored, then move past them all."""
    send(lost)
    wait_until(lambda: f"fault: lose-first loses {topic}" in worker.log(),
               what=f"the fault to take a record of {topic}")
    head = int(re.findall(rf"loses {re.escape(topic)} p\d+ offset (\d+)", worker.log())[0])
    for meter in later:
        send(meter)
        wait_until(lambda m=meter: stored(dsn, m) == 1,  # type: ignore[misc]
                   what="a later reading stored")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and stored(dsn, lost) == 0:
        offset = committed_at()
        assert offset is not None and offset <= head, (offset, head)
        time.sleep(0.5)
    wait_until(lambda: stored(dsn, lost) == 1, timeout=60,
               what="the lost reading fetched again and stored")
    wait_until(lambda: (committed_at() or 0) > head + len(later),
               what="the commit to move past every record once all are written")


def test_a_lost_record_followed_by_later_ones_is_never_committed_past_and_comes_again(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    first, lost, *later = same_partition(f"ML{uid()}", 5)
    partition = partition_for(lost, PARTITIONS)
    reading = {"kwhConsumedAc": 1.5, "voltage": 230.0, "timestamp": "2026-01-05T00:00:00Z"}
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False, command=LOSING,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    try:
        # The group commits on the partition first: the rule's head is the committed offset (a
        # partition never committed on is not covered, processor/stream/faust_fixes.py 4).
        publish(own_broker, [{"meterId": first, **reading}])
        wait_until(lambda: (committed(own_broker, partition) or 0) > 0,
                   what="the group's first commit on the partition")
        lose_then_heal(worker, own_database, "telemetry.meter",
                       lambda m: publish(own_broker, [{"meterId": m, **reading}]),
                       lambda: committed(own_broker, partition), lost, later)
        assert worker.proc.poll() is None  # healed in place: no exit, no restart
        log = worker.log()
        assert re.search(r"meter_writer: telemetry\.meter p\d+ has records from offset \d+ on "
                         r".* fetching them again", log), log[-3000:]
        status, metrics = http_json(f"{worker.direct_url}/metrics")
        assert status == 200
        assert re.search(r'energy_redelivered_partitions_total\{topic="telemetry.meter"\} 1\.0',
                         metrics), metrics
        assert [stored(own_database, m) for m in later] == [1] * len(later)  # once each
        assert "stalled" not in log
    finally:
        worker.stop()


LOSING_RAW = [sys.executable, "-m", "tests.faults", "lose-first", "telemetry.raw", "--after", "1",
              "--", *WORKER_COMMAND[3:]]


def raw_committed(bootstrap: str, partition: int) -> int | None:
    return committed(bootstrap, partition, "telemetry.raw")


def publish_raw(producer: Producer, values: list[dict[str, Any]], key: bytes,
                transactions: bool = False) -> set[int]:
    """Publish each value with ``key`` (so to one partition), each in its own transaction
    when asked; returns the partitions the broker put them on."""
    partitions: set[int] = set()

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None, err
        partitions.add(msg.partition())

    for value in values:
        if transactions:
            producer.begin_transaction()
        producer.produce("telemetry.raw", json.dumps(value).encode(), key,
                         on_delivery=on_delivery)
        if transactions:
            producer.commit_transaction(30)
    producer.flush(30)
    return partitions


def test_a_raw_message_lost_on_the_way_to_the_router_is_never_committed_past(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    meters = [f"RL{uid()}-{i}" for i in range(5)]
    key = meters[0].encode()  # every message to one raw partition
    reading = {"kwhConsumedAc": 1.5, "voltage": 230.0, "timestamp": "2026-01-05T00:00:00Z"}
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False, command=LOSING_RAW,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    producer = Producer(producer_config(own_broker))
    try:
        first, lost, *later = meters
        [partition] = publish_raw(producer, [{"meterId": first, **reading}], key)
        wait_until(lambda: (raw_committed(own_broker, partition) or 0) > 0,
                   what="the group's first commit on the raw partition")
        lose_then_heal(worker, own_database, "telemetry.raw",
                       lambda m: publish_raw(producer, [{"meterId": m, **reading}], key),
                       lambda: raw_committed(own_broker, partition), lost, later)
        assert worker.proc.poll() is None
        status, metrics = http_json(f"{worker.direct_url}/metrics")
        assert status == 200
        assert re.search(r'energy_redelivered_partitions_total\{topic="telemetry.raw"\} 1\.0',
                         metrics), metrics
    finally:
        worker.stop()


def test_a_transactional_producers_markers_are_passed_without_a_refetch(
        own_broker: str, own_database: str, tmp_path: Path) -> None:
    """Offsets that hold a transaction's marker are not lost records: the raw commit passes
    them at once (processor/stream/faust_fixes.py, 4), and the guard never fetches again."""
    meters = [f"TX{uid()}-{i}" for i in range(6)]
    key = meters[0].encode()
    reading = {"kwhConsumedAc": 1.5, "voltage": 230.0, "timestamp": "2026-01-05T00:00:00Z"}
    worker = start_worker(own_broker, own_database, tmp_path, gateway=False,
                          TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID)
    producer = Producer({**producer_config(own_broker), "transactional.id": f"tx-{uid()}"})
    producer.init_transactions(30)
    try:
        [partition] = publish_raw(producer, [{"meterId": m, **reading} for m in meters], key,
                                  transactions=True)
        wait_until(lambda: all(stored(own_database, m) == 1 for m in meters),
                   what="every transaction's reading stored")
        probe = Consumer({"bootstrap.servers": own_broker, "group.id": f"probe-{uid()}"})
        try:
            _, end = probe.get_watermark_offsets(TopicPartition("telemetry.raw", partition),
                                                 timeout=10)
        finally:
            probe.close()
        assert end == 2 * len(meters)  # a marker after each record
        # past every marker but the last: nothing acked after it (as on Apache Kafka, where a
        # transactional producer's group shows a lag of 1)
        wait_until(lambda: raw_committed(own_broker, partition) == end - 1, timeout=30,
                   what="the raw commit to pass every marker between records")
        time.sleep(LOST_AFTER + 3)  # the guard would have fetched again by now
        assert raw_committed(own_broker, partition) == end - 1
        status, metrics = http_json(f"{worker.direct_url}/metrics")
        assert status == 200
        assert "energy_redelivered_partitions_total{" not in metrics, metrics
    finally:
        worker.stop()
