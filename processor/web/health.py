"""Liveness: ``GET /healthz``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response, View

if TYPE_CHECKING:
    from processor.app import Pipeline


def register(p: Pipeline) -> None:
    @p.app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})
