"""The fleet page in headless Chromium at 10,000 vehicles: how long from navigation until its
first rows are on screen (issue 23: under 1 s), cold (the first load: nothing cached) and warm.

The fleet is bulk-loaded in SQL (``benchmarks/analytics.py``); the page is served through the
gateway, as users reach it. The page marks ``energy-loaded`` (Performance API) when it has shown
its first rows; the browser's own first contentful paint is reported beside it.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import analytics, pipeline
from benchmarks.browser import CHROMIUM, Browser
from benchmarks.env import Stack, log
from benchmarks.stats import latency_summary
from benchmarks.workers import start_gateway

LOADED = "performance.getEntriesByName('energy-loaded')[0].startTime"
FCP = ("(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: null})"
       ".startTime")


def fleet_count(url: str) -> int:
    with urllib.request.urlopen(f"{url}/v1/analytics/fleet?limit=1", timeout=30) as answer:
        return int(json.loads(answer.read())["count"])


def measure(stack: Stack, vehicles: int, partitions: int, loads: int = 10) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        return {"skipped": f"no Chromium at {CHROMIUM} (make chromium)"}
    with stack.scenario("web", partitions) as sc:
        loaded = analytics.load(sc.dsn, vehicles, 1)
        worker = pipeline.start_workers(sc, 1)[0]
        gateway = start_gateway(sc.bootstrap, [worker.url], sc.directory, 2)
        sc.on_close(gateway.stop)
        deadline = time.monotonic() + 120
        while fleet_count(gateway.url) < vehicles and time.monotonic() < deadline:
            time.sleep(0.5)  # the worker's first fleet snapshot
        rows, paints, walls = [], [], []
        with Browser() as browser:
            for _ in range(loads):
                walls.append(browser.open(f"{gateway.url}/"))
                rows.append(browser.evaluate(LOADED) / 1000)
                paint = browser.evaluate(FCP)
                if paint is not None:
                    paints.append(paint / 1000)
            shown = browser.evaluate("document.querySelectorAll('#fleet-body tr').length")
            console = list(browser.console)
    result: dict[str, Any] = {
        "vehicles": vehicles, "loads": loads, "rows_shown": shown,
        "first_rows_cold_ms": round(rows[0] * 1000, 1),
        "first_rows": latency_summary(rows[1:] or rows),
        "first_rows_p50_ms": latency_summary(rows)["p50_ms"],
        "first_contentful_paint": latency_summary(paints) if paints else None,
        "wall_to_loaded": latency_summary(walls), "console_errors": console,
        "load_seconds": loaded["load_seconds"]}
    log(f"web: fleet page at {vehicles:,} vehicles: first rows cold "
        f"{result['first_rows_cold_ms']:.0f} ms, warm p50 {result['first_rows']['p50_ms']:.0f} "
        f"ms, max {result['first_rows']['max_ms']:.0f} ms; {len(console)} console errors")
    return result
