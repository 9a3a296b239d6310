"""The web view in headless Chromium against the session's worker fed by the simulator: the
numbers on the pages equal the API's. (test_web_view.py drives the pages at 10,000 vehicles.)"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from processor.domain.efficiency import iso
from producers.fleet import device_ids
from producers.simulate import SimulateOptions, simulate
from tests.conftest import Services
from tests.helpers import Worker, http_json, query, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEVICES = 6
MINUTES = 150


class Fields(HTMLParser):
    """Text of every element with data-field, grouped by the enclosing data-vehicle-id row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.page: dict[str, str] = {}
        self.row_status: dict[str, str] = {}
        self.chart_hours = 0
        self.body: dict[str, str] = {}
        self._row: str | None = None
        self._field: list[tuple[str, str, int]] = []  # (field, text so far, depth)
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self._depth += 1
        if tag == "body":
            self.body = a
        if tag == "tr" and "data-vehicle-id" in a:
            self._row = a["data-vehicle-id"]
            self.rows[self._row] = {}
            self.row_status[self._row] = a.get("data-status", "")
        if "data-hour" in a:
            self.chart_hours += 1
        if "data-field" in a:
            self._field.append((a["data-field"], "", self._depth))

    def handle_endtag(self, tag: str) -> None:
        if self._field and self._field[-1][2] == self._depth:
            name, text, _ = self._field.pop()
            target = self.rows[self._row] if self._row else self.page
            target[name] = text.strip()
        if tag == "tr":
            self._row = None
        self._depth -= 1

    def handle_data(self, data: str) -> None:
        self._field = [(n, t + data, d) for n, t, d in self._field]


def chromium(url: str, *args: str) -> str:
    """Run headless Chromium on url; returns stdout (the DOM with --dump-dom)."""
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--virtual-time-budget=8000", *args, url],
            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def rendered(url: str) -> Fields:
    parser = Fields()
    parser.feed(chromium(url, "--dump-dom"))
    assert parser.body.get("data-loaded") == "true", f"page did not load its data: {url}"
    return parser


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium missing: run `make chromium`")
def test_dashboard_shows_the_apis_numbers(services: Services, worker: Worker,
                                          tmp_path: Path) -> None:
    opts = SimulateOptions(devices=DEVICES, hours=MINUTES / 60, minutes=MINUTES, batch=200,
                           seed=random.randrange(1 << 30))
    sent = simulate(services.bootstrap, opts, out=open("/dev/null", "w"))  # noqa: SIM115
    assert sent >= DEVICES * MINUTES * 2
    meters, vehicles = zip(*(device_ids(i, 4) for i in range(1, DEVICES + 1)), strict=True)
    # Both sides: the API and the page must see the same meters' AC (they are read apart).
    wait_until(lambda: query(services.dsn, "SELECT (SELECT count(*) FROM vehicle_history "
                             "WHERE vehicle_id = ANY(%s) AND ts > now() - interval '3 hours') "
                             "+ (SELECT count(*) FROM meter_history WHERE meter_id = ANY(%s) "
                             "AND ts > now() - interval '3 hours')",
                             (list(vehicles), list(meters)))[0][0] >= sent,
               timeout=90, what="the simulated readings in history")
    at = iso(datetime.now(UTC))

    search = f"at={at}&limit=1000&q=V-000"  # the page asks the API for the same page
    fleet = http_json(f"{worker.url}/v1/analytics/fleet?{search}")[1]
    api = {v["vehicleId"]: v for v in fleet["vehicles"]}
    page = rendered(f"{worker.url}/?{search}")
    for vid in vehicles:
        row, want = page.rows[vid], api[vid]
        assert row["totalAcConsumed"] == want["totalAcConsumed"], vid
        assert row["totalDcDelivered"] == want["totalDcDelivered"], vid
        assert row["efficiency"] == want["efficiency"], vid
        assert row["meterId"] == want["meterId"], vid
        assert row["soc"] == f"{want['soc']:.1f}", vid
        assert page.row_status[vid] == want["status"], vid
        assert want["meterId"] in meters and want["status"] in ("ok", "low_efficiency", "idle")
    # worst efficiency first, as the API orders it
    order = [v for v in page.rows if v in api]
    assert order == [v["vehicleId"] for v in fleet["vehicles"]][:len(order)]

    vid = vehicles[0]
    perf = http_json(f"{worker.url}/v1/analytics/performance/{vid}?at={at}")[1]
    detail = rendered(f"{worker.url}/vehicles/{vid}?at={at}")
    for name, value in perf["metrics"].items():
        assert detail.page[name] == value, name
    assert detail.page["meterId"] == perf["meterId"]
    assert detail.page["vehicleId"] == vid
    hourly: Any = http_json(f"{worker.url}/v1/analytics/performance/{vid}/hourly?at={at}")[1]
    assert detail.chart_hours == len(hourly["hours"])

    shot = tmp_path / "dashboard.png"
    chromium(f"{worker.url}/?{search}", f"--screenshot={shot}", "--window-size=1280,900")
    assert shot.stat().st_size > 10_000
