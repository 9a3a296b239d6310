"""The web view: ``/`` (the fleet a page at a time), ``/vehicles/{id}`` (its charts, live
reading and alerts), ``/meters/{id}`` and ``/alerts``, with their own assets.

Plain HTML, CSS and JavaScript shipped as package data, uPlot vendored beside them
(``static/VENDORED.md``): no CDN, no build step. The pages read the JSON endpoints.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from faust.web import Request, Response, View

from processor.stream.pipeline import Pipeline

CONTENT_TYPES = {".html": "text/html", ".css": "text/css", ".js": "application/javascript",
                 ".svg": "image/svg+xml", ".png": "image/png",
                 ".txt": "text/plain; charset=utf-8", ".md": "text/markdown; charset=utf-8"}


@lru_cache(maxsize=32)
def asset(name: str) -> bytes | None:
    """A file of ``processor/web/static``; None unless it is one of ours (no path tricks)."""
    if "/" in name or "\\" in name or name.startswith(".") or not name:
        return None
    path = resources.files("processor.web") / "static" / name
    return path.read_bytes() if path.is_file() else None


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(name[name.rfind("."):], "application/octet-stream")


def register(p: Pipeline) -> None:
    def page(view: View, name: str) -> Response:
        body = asset(name)
        assert body is not None, f"missing packaged asset {name}"
        return view.bytes(body, content_type="text/html",
                          headers={"Cache-Control": "no-cache"})

    @p.app.page("/")
    class FleetPage(View):
        async def get(self, request: Request) -> Response:
            return page(self, "index.html")

    @p.app.page("/vehicles/{vehicle_id}")
    class VehiclePage(View):
        async def get(self, request: Request, vehicle_id: str) -> Response:
            return page(self, "vehicle.html")

    @p.app.page("/meters/{meter_id}")
    class MeterPage(View):
        async def get(self, request: Request, meter_id: str) -> Response:
            return page(self, "meter.html")

    @p.app.page("/alerts")
    class AlertsPage(View):
        async def get(self, request: Request) -> Response:
            return page(self, "alerts.html")

    @p.app.page("/static/{name}")
    class Static(View):
        async def get(self, request: Request, name: str) -> Response:
            body = asset(name)
            if body is None:
                return self.json({"error": "not found", "path": f"/static/{name}"}, status=404)
            return self.bytes(body, content_type=content_type(name),
                              headers={"Cache-Control": "max-age=300"})
