"""Which worker holds a device's table entries: the owner of its partition.

A device's readings, and so its live and hourly table entries, live in the partition
``processor.domain.partitioning.partition_for`` gives its id (the router sends it there, the
writers keep the tables co-partitioned). Faust's assignor knows, for every table changelog
partition, the web address of the worker it was assigned to (each worker advertises its
``canonical_url`` when it joins the group); this module is the one place that reads it.

Not Faust's ``app.table_route``: it finds the partition by hashing the key as Faust
serializes it (JSON, quotes included), not as our router partitions devices, and it passes the
owner's answer on as text without its headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.types import TP

from processor.domain.partitioning import partition_for
from processor.stream.pipeline import Pipeline


@dataclass(frozen=True)
class Owner:
    here: bool  # this worker owns the partition and its table is ready to be read
    # another worker's address when that one owns it; None when nobody is known to (a
    # rebalance) or when it is this worker's own but still recovering
    elsewhere: str | None = None


def table_ready(p: Pipeline) -> bool:
    """The tables hold everything their changelogs hold: no rebalance or recovery running."""
    app = p.app
    return not (app.rebalancing or app.in_recovery)


def owner(p: Pipeline, table: Any, device_id: str) -> Owner:
    app = p.app
    partition = partition_for(device_id, p.settings.telemetry_partitions)
    tp = TP(table.changelog_topic.get_topic_name(), partition)
    if app.assignor.is_active(tp):  # the set of the last assignment; not rebuilt per call
        return Owner(here=table_ready(p))
    urls: dict[Any, str] = getattr(app.assignor, "_tps_url", {})
    url = urls.get(tp)
    if url is None or url.rstrip("/") == str(app.conf.canonical_url).rstrip("/"):
        return Owner(here=False)
    return Owner(here=False, elsewhere=url.rstrip("/"))
