"""The worker says it runs, where ``energy-ingest rebuild`` looks (``db/presence.py``): a
connection of its own holding its application's presence lock, named after the worker, taken
again whenever the connection is lost."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from db.presence import announce
from processor.stream.checkpoint import TRANSIENT, timer_guarded
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)


def register(p: Pipeline, interval: float = 10.0) -> None:
    name = f"energy-ingest worker pid {os.getpid()} {p.settings.advertised_url}"
    held: list[Any] = []  # the connection holding the lock, once taken

    @timer_guarded("presence")
    async def keep_presence() -> None:
        if held and not held[0].closed:
            return
        held.clear()
        try:
            conn = await announce(p.dsn, p.settings.app_id, name)
        except TRANSIENT as exc:  # tried again next period
            log.debug("presence: database unavailable: %s", exc)
            return
        if conn is None:
            log.warning("presence: a rebuild of %s holds the workers' lock; taken again when "
                        "it is done", p.settings.app_id)
            return
        held.append(conn)

    p.app.task(keep_presence)  # at start
    p.app.timer(interval=interval)(keep_presence)  # and again whenever the connection is gone

    @p.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def drop_presence(sender: Any, **kwargs: Any) -> None:
        for conn in held:
            with contextlib.suppress(Exception):
                await conn.close()
