"""Liveness: ``GET /healthz``."""

from __future__ import annotations

from faust.web import Request, Response, View

from processor.stream.pipeline import Pipeline


def register(p: Pipeline) -> None:
    @p.app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})
