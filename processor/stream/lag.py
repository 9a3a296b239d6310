"""Consumer lag of a worker: per assigned partition of the agents' topics, the broker's end
offset minus what this worker committed (``/metrics`` and the stall watchdog read it)."""

from __future__ import annotations

import asyncio

from processor.domain.kinds import KINDS
from processor.kafka import topics
from processor.stream import metrics
from processor.stream.offsets import committed_offsets, or_start
from processor.stream.pipeline import Pipeline

# Lag is reported for the topics the agents consume, not for table changelogs.
LAG_TOPICS = (topics.RAW, *(kind.topic for kind in KINDS.values()))
LAG_TIMEOUT = 2.0


async def consumer_lag(p: Pipeline) -> dict[tuple[str, int], int]:
    """Per assigned partition: the broker's end offset minus what this worker committed (the
    partition's first offset where it committed nothing yet)."""
    consumer = p.app.consumer
    try:
        assigned = [tp for tp in consumer.assignment() if tp.topic in LAG_TOPICS]
    except Exception:  # consumer not started yet: no partitions, no lag
        return {}
    if not assigned:
        return {}
    ends = await asyncio.wait_for(consumer.highwaters(*assigned), LAG_TIMEOUT)
    # what Faust last committed (the next offset to read); where nothing was committed yet,
    # everything from the partition's start is waiting
    committed = await or_start(consumer, committed_offsets(consumer), assigned, LAG_TIMEOUT)
    lags = {}
    for tp in assigned:
        value = metrics.lag(ends.get(tp), committed.get(tp))
        if value is not None:
            lags[(tp.topic, tp.partition)] = value
    return lags
