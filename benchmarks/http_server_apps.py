"""The apps ``benchmarks/http_servers.py`` serves with each candidate HTTP server (issue 20).

Every candidate serves ``POST /v1/telemetry`` in two variants, both answered by ``respond``:

- ``ceiling``: the body is read whole and answered 202 ``{"accepted":1}`` without a look at it:
  what the server itself costs (its parser, its event loop, its response path).
- ``validate``: the body is judged by the product's own ``validate_message`` and answered 202
  with the count of readings, or 422 when any reading was refused. Nothing is published: the
  gateway will add the broker later, this measures the server plus the validation.

Granian serves ``rsgi_*`` (RSGI) or ``asgi_*`` (ASGI); uvicorn serves ``asgi_*``; aiohttp runs
from ``python -m benchmarks.http_server_apps`` (``--processes N``: N processes, each with its
own socket on the same port through ``SO_REUSEPORT``, the kernel spreading connections).
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from types import FrameType
from typing import Any

import orjson

from processor.domain.validation import validate_message

PATH = "/v1/telemetry"
VARIANTS = ("ceiling", "validate")
CEILING_BODY = b'{"accepted":1}'
JSON_HEADERS = [("content-type", "application/json")]


def validate_answer(body: bytes) -> tuple[int, bytes]:
    """The validate variant's answer: 202 and the count when every reading is valid, else 422
    with what was accepted and refused. ``as_lines`` takes the product's path for plainly valid
    readings (processor/domain/fast_path.py, as ``POST /v1/telemetry`` does), the models for
    the rest."""
    outcome = validate_message(body, as_lines=True)
    accepted = len(outcome.lines)
    if outcome.rejections or not accepted:
        return 422, orjson.dumps({"accepted": accepted, "rejected": len(outcome.rejections)})
    return 202, orjson.dumps({"accepted": accepted})


def respond(variant: str, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Status and JSON body for a request, whatever the server."""
    if path != PATH:
        return 404, b'{"error":"not found"}'
    if method != "POST":
        return 405, b'{"error":"method not allowed"}'
    if variant == "ceiling":
        return 202, CEILING_BODY
    return validate_answer(body)


# --- RSGI (Granian) -------------------------------------------------------------------------

def rsgi_app(variant: str) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    async def app(scope: Any, protocol: Any) -> None:
        body = await protocol()
        status, payload = respond(variant, scope.method, scope.path, body)
        protocol.response_bytes(status, JSON_HEADERS, payload)

    return app


rsgi_ceiling = rsgi_app("ceiling")
rsgi_validate = rsgi_app("validate")


# --- bare ASGI (Granian ASGI, uvicorn) --------------------------------------------------------

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def asgi_app(variant: str) -> Callable[[dict[str, Any], Receive, Send],
                                       Coroutine[Any, Any, None]]:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        parts: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        status, payload = respond(variant, scope["method"], scope["path"], b"".join(parts))
        # Content-Length given: without it uvicorn answers chunked.
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return app


asgi_ceiling = asgi_app("ceiling")
asgi_validate = asgi_app("validate")


# --- aiohttp (web.Application, as processor/web serves today) ---------------------------------

def aiohttp_app(variant: str) -> Any:
    from aiohttp import web

    async def post_telemetry(request: web.Request) -> web.Response:
        status, payload = respond(variant, request.method, request.path, await request.read())
        return web.Response(body=payload, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, post_telemetry)
    return app


def serve_aiohttp(variant: str, host: str, port: int) -> None:
    """One aiohttp process on its own ``SO_REUSEPORT`` socket (SIGTERM: graceful exit)."""
    import uvloop
    from aiohttp import web

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # run_app installs its own
    web.run_app(aiohttp_app(variant), host=host, port=port, reuse_port=True, access_log=None,
                print=None, loop=uvloop.new_event_loop(), shutdown_timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["aiohttp"])
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=serve_aiohttp, args=(args.variant, args.host, args.port),
                                name=f"aiohttp-{n}") for n in range(args.processes)]

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.start()
    for child in children:
        child.join()
    sys.exit(max((child.exitcode or 0) for child in children))


if __name__ == "__main__":
    main()
