"""JSON bodies for requests no view handles (unknown path, method not allowed).

aiohttp answers those in plain text; API clients (and the OpenAPI contract) expect JSON.
Responses made by views are left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from processor.stream.pipeline import Pipeline

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    routing_error = request.match_info.http_exception
    if routing_error is None:
        return await handler(request)
    headers = {k: v for k, v in routing_error.headers.items() if k.lower() == "allow"}
    message = ("no such endpoint" if routing_error.status == 404
               else routing_error.reason.lower())
    return web.json_response({"error": f"{message}: {request.method} {request.path}"},
                             status=routing_error.status, headers=headers)


def register(p: Pipeline) -> None:
    p.app.web.web_app.middlewares.append(json_errors)  # type: ignore[attr-defined]
