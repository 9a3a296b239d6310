"""Housekeeping the leader worker runs on a timer: history partitions ahead, retention.

A long-running worker must create tomorrow's partitions itself (start-up made only
``PARTITIONS_AHEAD_DAYS``), and drop the days older than ``RETENTION_DAYS``. The work is
blocking psycopg, so it runs in a thread; a database that is away is logged and retried on the
next tick; any other error is logged with its traceback and counted
(``processor.stream.checkpoint.timer_guarded``), and the next tick tries again.
"""

from __future__ import annotations

import asyncio
import logging

from db.partitions import PartitionReport, maintain_partitions
from processor.stream.checkpoint import TRANSIENT, timer_guarded
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

# The database may be down, or not migrated for retention (RuntimeError, which says so).
RETRY: tuple[type[BaseException], ...] = (*TRANSIENT, RuntimeError)


def register_maintenance(p: Pipeline) -> None:
    settings = p.settings

    @p.app.timer(interval=settings.partition_maintenance_seconds, on_leader=True)
    @timer_guarded("partition maintenance")
    async def partition_maintenance() -> None:
        try:
            report: PartitionReport = await asyncio.to_thread(
                maintain_partitions, p.dsn, ahead_days=settings.partitions_ahead_days,
                retention_days=settings.retention_days)
        except RETRY as exc:  # the next tick tries again
            log.warning("partition maintenance failed (%s: %s); retrying in %.0fs",
                        type(exc).__name__, exc, settings.partition_maintenance_seconds)
            return
        if report.changed:
            log.info("partition maintenance: %s", "; ".join(report.lines()))
