"""Housekeeping the leader worker runs on a timer: history partitions ahead, retention.

A long-running worker must create tomorrow's partitions itself (start-up made only
``PARTITIONS_AHEAD_DAYS``), and drop the days older than ``RETENTION_DAYS``. The work is
blocking psycopg, so it runs in a thread; a failure is logged and retried on the next tick,
never allowed to stop the worker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from db.partitions import PartitionReport, maintain_partitions

if TYPE_CHECKING:
    from processor.app import Pipeline

log = logging.getLogger(__name__)


def register_maintenance(p: Pipeline) -> None:
    settings = p.settings

    @p.app.timer(interval=settings.partition_maintenance_seconds, on_leader=True)
    async def partition_maintenance() -> None:
        try:
            report: PartitionReport = await asyncio.to_thread(
                maintain_partitions, p.dsn, ahead_days=settings.partitions_ahead_days,
                retention_days=settings.retention_days)
        except Exception:  # the database may be down: the next tick tries again
            log.exception("partition maintenance failed; retrying in %.0fs",
                          settings.partition_maintenance_seconds)
            return
        if report.changed:
            log.info("partition maintenance: %s", "; ".join(report.lines()))
