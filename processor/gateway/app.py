"""The gateway's RSGI application: one per Granian process.

``POST /v1/telemetry`` is served here (``ingest.py``), ``/healthz``, ``/readyz`` and
``/metrics`` too; everything else goes to a worker (``forward.py``). Nothing is kept between
requests but the Kafka producer, the client session to the workers and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson

from processor.gateway import metrics
from processor.gateway.auth import Auth
from processor.gateway.exposition import merge
from processor.gateway.forward import Forwarder, NoWorker
from processor.gateway.ingest import Ingest
from processor.gateway.readiness import readiness
from processor.kafka.publisher import Publisher
from processor.settings import Settings, get_settings

log = logging.getLogger(__name__)

INGEST = "/v1/telemetry"
OWN_PATHS = ("/healthz", "/readyz", "/metrics")
JSON = [("content-type", "application/json; charset=utf-8")]
METRICS_TYPE = [("content-type", "text/plain; version=0.0.4; charset=utf-8")]
SCRAPE_TIMEOUT = 5.0


def json_body(body: Any) -> bytes:
    return orjson.dumps(body)


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.publisher = Publisher(settings.kafka_bootstrap_servers or "",
                                   settings.http_publish_timeout)
        self.ingest = Ingest(settings, self.publisher)
        self.forwarder = Forwarder(settings.worker_url_list)
        self.auth = Auth(settings)

    # --- RSGI -------------------------------------------------------------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.publisher.producer()  # connect now rather than at the first request
        self.auth.start(loop)
        metrics.TALLY.flush_every(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.forwarder.close())
        self.auth.stop(loop)
        self.publisher.close()
        metrics.TALLY.flush()

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        started = time.perf_counter()
        if scope.proto != "http":  # websockets are not served
            return
        path, method = scope.path, scope.method
        route = ("ingest" if path == INGEST else
                 "own" if method in ("GET", "HEAD") and path in OWN_PATHS else "forward")
        try:
            verdict = await self.auth.verdict(method, path, scope.query_string, scope.headers)
            if not verdict.allowed:
                status = await self.auth.refuse(protocol, method, verdict)
            elif route == "ingest":
                status = await self.serve_ingest(scope, protocol, method)
            elif route == "own":
                status = await self.serve_own(scope, protocol, path)
            else:
                status = await self.serve_forward(scope, protocol)
        except Exception as exc:  # a bug of ours: say so in JSON, as every other answer
            log.exception("gateway: %s %s failed", method, path)
            status = 500
            body = {"error": f"internal error of the gateway ({type(exc).__name__}); "
                             "nothing was accepted", "accepted": 0}
            with contextlib.suppress(Exception):  # unless an answer has started already
                protocol.response_bytes(status, JSON, json_body(body))
        metrics.TALLY.request(route, status, time.perf_counter() - started)

    # --- routes -----------------------------------------------------------------------------

    async def serve_ingest(self, scope: Any, protocol: Any, method: str) -> int:
        if method != "POST":
            body = {"error": f"method {method} not allowed on {INGEST}: use POST"}
            protocol.response_bytes(405, [*JSON, ("allow", "POST")], json_body(body))
            return 405
        headers = scope.headers
        answer = await self.ingest.answer(headers.get("content-type"),
                                          headers.get("content-length"), protocol)
        protocol.response_bytes(answer.status, JSON, json_body(answer.body))
        return answer.status

    async def serve_own(self, scope: Any, protocol: Any, path: str) -> int:
        if path == "/healthz":
            status, body = 200, json_body({"status": "ok"})
            headers = JSON
        elif path == "/readyz":
            gateway_only = "scope=gateway" in scope.query_string
            status, answer = await readiness(self.publisher, self.forwarder, gateway_only)
            body, headers = json_body(answer), JSON
        else:
            status, body, headers = 200, await self.exposition(), METRICS_TYPE
        if scope.method == "HEAD":
            protocol.response_empty(status, headers)
        else:
            protocol.response_bytes(status, headers, body)
        return status

    async def exposition(self) -> bytes:
        texts = [metrics.exposition().decode()]
        for url, answer in await self.forwarder.get_each("/metrics", SCRAPE_TIMEOUT):
            if isinstance(answer, str) or answer.status != 200:
                log.warning("gateway /metrics: the worker at %s %s", url,
                            answer if isinstance(answer, str) else f"answered {answer.status}")
                continue
            texts.append(answer.body.decode())
        return merge(texts)

    async def serve_forward(self, scope: Any, protocol: Any) -> int:
        target = scope.path + (f"?{scope.query_string}" if scope.query_string else "")
        body = await protocol() if scope.method not in ("GET", "HEAD") else b""
        try:
            answer = await self.forwarder.forward(scope.method, target, scope.headers.items(),
                                                  body, scope.client.rsplit(":", 1)[0])
        except NoWorker as exc:
            metrics.FORWARD_FAILURES.labels(exc.reason).inc()
            status = 504 if exc.reason == "timeout" else 503
            protocol.response_bytes(status, JSON, json_body({"error": str(exc)}))
            return status
        protocol.response_bytes(answer.status, answer.headers, answer.body)
        return answer.status


app = Gateway(get_settings())
