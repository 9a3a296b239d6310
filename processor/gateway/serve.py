"""``energy-ingest gateway``: ``app.py`` served from ``GATEWAY_PROCESSES`` processes.

By our own HTTP/1.1 server (``http11.py``: asyncio, httptools, uvloop), the cheapest per
request under spread-out clients (docs/performance.md, "HTTP ingest under a Node.js client"),
or, with ``GATEWAY_SERVER=granian``, by Granian (Rust, hyper, RSGI), the server before. Each
process runs its own event loop, Kafka producer and client session to the workers.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from processor.settings import Settings, get_settings

log = logging.getLogger("energy-ingest")

TARGET = "processor.gateway.app:app"


def serve(settings: Settings, bootstrap: str) -> None:
    """Run until SIGINT/SIGTERM. Granian then closes the connections at once: a request cut
    off gets no answer (its client retries), never a 202 for a reading the broker did not ack
    (measured: 50 connections under load, 50 requests unanswered)."""
    # Read by every process (they import the settings afresh): set before Granian starts them,
    # with what the command line overrode.
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    os.environ["WORKER_URLS"] = ",".join(settings.worker_url_list)
    get_settings.cache_clear()  # forked processes would inherit the parent's, read before
    metrics_dir = tempfile.mkdtemp(prefix="energy-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    processes = settings.gateway_process_count
    workers = settings.worker_url_list
    log.info("gateway: http://%s:%d, %d process(es) (%s), broker %s; other requests go to %s",
             settings.web_bind, settings.web_port, processes, settings.gateway_server,
             bootstrap, ", ".join(workers) if workers else "no worker (WORKER_URLS is empty)")
    if settings.gateway_server != "granian":
        from processor.gateway import http11

        try:
            http11.serve(settings.web_bind, settings.web_port, processes)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    try:
        Granian(TARGET, address=settings.web_bind, port=settings.web_port,
                interface=Interfaces.RSGI, workers=processes, loop=Loops.auto,
                websockets=False, backlog=2048, log_enabled=True,
                log_level=LogLevels(_granian_level(settings.log_level)),
                respawn_failed_workers=True, workers_kill_timeout=30).serve()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _granian_level(level: str) -> str:
    """Granian narrates each process's start at INFO; keep our own progress readable."""
    return "debug" if level.upper() == "DEBUG" else "warning"
