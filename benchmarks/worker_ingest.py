"""``python -m benchmarks.worker_ingest worker``: a worker that also serves ``POST
/v1/telemetry`` on its own web server, for the HTTP benchmark's comparison.

Ingest is the gateway's (processor/gateway/): its own processes, with none of the worker's
event loop and GIL to share. The path before the gateway tier, a route on the worker, is
measured beside it in one run (benchmarks/http_ingest.py); the product no longer carries it,
so this module adds it to the worker's wiring from outside. It judges, publishes and answers
as the gateway does (processor/kafka/http_publish.py), on aiohttp.
"""

from __future__ import annotations

import sys

import orjson
from aiohttp import web

from processor import app
from processor.domain.http_ingest import Reply, media_type_error, too_large
from processor.kafka.http_publish import HttpPublish
from processor.kafka.publisher import Publisher
from processor.ops import cli
from processor.stream import metrics
from processor.stream.pipeline import Pipeline


async def read_limited(request: web.Request, max_bytes: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``max_bytes`` (without buffering the rest)."""
    content = request.content
    parts: list[bytes] = []
    size = 0
    while True:
        part = await content.readany()
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > max_bytes:
            return None
        parts.append(part)


def register(p: Pipeline) -> None:
    settings = p.settings
    publisher = Publisher(settings.kafka_bootstrap_servers or "", settings.http_publish_timeout)
    core = HttpPublish(publisher, settings.http_max_readings, settings.http_chunk_readings,
                       lambda n: metrics.internal_error("http", n), metrics.http_readings)

    async def ingest(request: web.Request) -> Reply:
        bad_type = media_type_error(request.headers.get("Content-Type"))
        if bad_type:
            return bad_type
        length = request.content_length
        if length is not None and length > settings.http_max_bytes:
            return too_large(settings.http_max_bytes, length)
        body = await read_limited(request, settings.http_max_bytes)
        if body is None:
            return too_large(settings.http_max_bytes)
        return await core.accept(body)

    async def post_telemetry(request: web.Request) -> web.Response:
        answer = await ingest(request)
        return web.Response(body=orjson.dumps(answer.body), status=answer.status,
                            content_type="application/json", charset="utf-8")

    # A plain aiohttp route on Faust's web server rather than a Faust View: the busiest endpoint
    # skips Faust's view dispatch and web sensors (single POSTs 8.1-8.5k -> 9.5-9.7k/s).
    p.app.web.web_app.router.add_post("/v1/telemetry", post_telemetry)  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    app.WIRING = (*app.WIRING, register)  # read by build_app when the worker starts
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
