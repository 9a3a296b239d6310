"""The web view in headless Chromium (over the DevTools protocol) on a fleet of 10,000 vehicles:
paging, search, filters and sorting driven through the page and compared with the API; the
vehicle, meter and alerts pages; the API down; keyboard use and WCAG 2 AA (axe-core, vendored
in tests/fixtures/axe); no error in the console; a screenshot of each page
(``.energy/test-artifacts/``).

The fleet is loaded in SQL into a database of this module's own (rollups, live rows, links), as
the writers would have left it; two vehicles' readings go through the pipeline, so their hourly
charts come from the worker's tables. The worker's leader judges them all for alerts.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from benchmarks.browser import CHROMIUM, Browser
from tests.accessibility import check_accessibility
from tests.conftest import APP_ID, PARTITIONS, Services, separate_broker, separate_database
from tests.helpers import ROOT, Worker, http_json, publish, query, start_worker, wait_until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="chromium missing: run `make chromium`")]

ARTIFACTS = ROOT / ".energy" / "test-artifacts"
VEHICLES = 10_000

# Vehicle i: efficiency 0.70 + (i % 40) / 100 (low below 0.85 for i % 40 < 15), idle when
# i % 10 == 0 (a charger's standby only), no meter at all when i % 13 == 0; charging in two
# hours of three, nothing in the third (so its figure is the same whatever hours the 24-hour
# window holds: the page and the API agree even when they read snapshots an hour apart).
LOAD = [
    """INSERT INTO meter_hourly (meter_id, hour, kwh_consumed_ac, readings)
       SELECT 'M-' || lpad(i::text, 5, '0'), h,
              CASE WHEN i %% 10 = 0 THEN 0.006  -- a parked car's charger standby
                   WHEN (i + extract(hour FROM h)::int) %% 3 = 0 THEN 0
                   ELSE 3.0 + (i %% 7) * 0.1 END, 60
       FROM generate_series(1, %(n)s) i CROSS JOIN generate_series(
           date_trunc('hour', now()) - interval '30 hours',
           date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h
       WHERE i %% 13 <> 0""",
    """INSERT INTO vehicle_hourly (vehicle_id, hour, kwh_delivered_dc, battery_temp_sum,
                                   battery_temp_count, readings)
       SELECT 'V-' || lpad(i::text, 5, '0'), h,
              CASE WHEN i %% 10 = 0 OR (i + extract(hour FROM h)::int) %% 3 = 0 THEN 0
                   ELSE (3.0 + (i %% 7) * 0.1) * (0.70 + (i %% 40) / 100.0) END,
              60 * (25 + i %% 10), 60, 60
       FROM generate_series(1, %(n)s) i CROSS JOIN generate_series(
           date_trunc('hour', now()) - interval '30 hours',
           date_trunc('hour', now()) - interval '1 hour', interval '1 hour') h""",
    """INSERT INTO meter_live (meter_id, ts, kwh_consumed_ac, voltage)
       SELECT 'M-' || lpad(i::text, 5, '0'), date_trunc('minute', now()) - interval '1 minute',
              0.05, 230
       FROM generate_series(1, %(n)s) i WHERE i %% 13 <> 0""",
    """INSERT INTO vehicle_live (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, meter_id)
       SELECT 'V-' || lpad(i::text, 5, '0'), date_trunc('minute', now()) - interval '1 minute',
              20 + i %% 80, 0.04, 25 + i %% 10, NULL
       FROM generate_series(1, %(n)s) i""",
    """INSERT INTO vehicle_meter_link (vehicle_id, valid_from, meter_id, source)
       SELECT 'V-' || lpad(i::text, 5, '0'), now() - interval '3 days',
              'M-' || lpad(i::text, 5, '0'), 'reading'
       FROM generate_series(1, %(n)s) i WHERE i %% 13 <> 0""",
]
PIPELINE_VEHICLE, PIPELINE_METER = "V-P0001", "M-P0001"
MINUTES = 180


@pytest.fixture(scope="module")
def fleet(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    directory = tmp_path_factory.mktemp("web-view")
    with separate_broker(directory) as bootstrap, separate_database(services.dsn) as dsn:
        with psycopg.connect(dsn) as conn:
            for sql in LOAD:
                conn.execute(sql, {"n": VEHICLES})  # type: ignore[arg-type]
        worker = start_worker(bootstrap, dsn, directory, TELEMETRY_PARTITIONS=str(PARTITIONS),
                              APP_ID=APP_ID, ALERT_INTERVAL_SECONDS="3")
        try:
            publish_charging(bootstrap)
            wait_until(lambda: query(dsn, "SELECT count(*) FROM vehicle_history WHERE "
                                     "vehicle_id = %s", (PIPELINE_VEHICLE,))[0][0] == MINUTES,
                       timeout=90, what="the pipeline vehicle's readings")
            wait_until(lambda: http_json(f"{worker.url}/v1/analytics/fleet?limit=1&maxAge=0")
                       [1]["count"] == VEHICLES + 1, timeout=90, what="the fleet snapshot")
            wait_until(lambda: query(dsn, "SELECT count(*) FROM efficiency_alert_events")
                       [0][0] > 100, timeout=90, what="the first alerts")
            yield worker
        finally:
            worker.stop()


def publish_charging(bootstrap: str) -> None:
    """180 minutes ending now: charging (90% efficient), 130 minutes parked (at least one whole
    hour: a gap in its chart), charging again."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=MINUTES)
    readings: list[dict[str, Any]] = []
    for k in range(MINUTES):
        ts = (start + timedelta(minutes=k)).isoformat().replace("+00:00", "Z")
        charging = not 20 <= k < 150
        ac = 0.12 if charging else 0.0001
        readings.append({"meterId": PIPELINE_METER, "kwhConsumedAc": ac, "voltage": 230,
                         "timestamp": ts})
        readings.append({"vehicleId": PIPELINE_VEHICLE, "soc": 40 + k / 10,
                         "kwhDeliveredDc": ac * 0.9 if charging else 0.0, "batteryTemp": 30,
                         "meterId": PIPELINE_METER, "timestamp": ts})
    publish(bootstrap, readings)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b
        assert b.console == [], f"the browser console said: {b.console}"


def rows(b: Browser) -> list[list[str]]:
    """[vehicle id, efficiency, status] of each row shown."""
    return b.evaluate("""[...document.querySelectorAll('#fleet-body tr[data-vehicle-id]')]
        .map(tr => [tr.dataset.vehicleId,
                    tr.querySelector('[data-field="efficiency"]').textContent,
                    tr.dataset.status])""")


def api_rows(worker: Worker, params: str) -> tuple[int, list[list[str]]]:
    body = http_json(f"{worker.url}/v1/analytics/fleet?{params}")[1]
    return body["total"], [[v["vehicleId"], v["efficiency"], v["status"]]
                           for v in body["vehicles"]]


def shown_after(b: Browser, action: str, search: str) -> list[list[str]]:
    """The rows once ``action`` made the page ask for a page whose address holds ``search``
    (URLSearchParams' form: q=v-0042) and it is shown."""
    b.evaluate(action)
    b.wait(f"location.search.includes({json.dumps(search)}) && "
           "document.getElementById('fleet').getAttribute('aria-busy') === 'false'")
    return rows(b)


def page_total(b: Browser) -> int:
    text = b.evaluate("document.getElementById('page').textContent")
    return int(text.split(" of ")[1].replace(",", ""))


def keep(b: Browser, name: str) -> None:
    shot = b.screenshot(ARTIFACTS / f"{name}.png")
    assert shot.stat().st_size > 10_000


def test_the_fleet_page_pages_searches_filters_and_sorts_as_the_api(
        fleet: Worker, browser: Browser) -> None:
    browser.open(f"{fleet.url}/")
    total, first = api_rows(fleet, "limit=50")
    assert total == VEHICLES + 1 and rows(browser) == first
    assert page_total(browser) == total
    summary = http_json(f"{fleet.url}/v1/analytics/fleet?limit=1")[1]["summary"]
    assert browser.evaluate("document.querySelector('[data-field=fleetEfficiency]')"
                            ".textContent") == summary["efficiency"]
    assert browser.evaluate("document.querySelectorAll('#histogram .bin').length") == \
        len(summary["histogram"])
    keep(browser, "fleet")

    second = shown_after(browser, "document.getElementById('next').click()", "offset=50")
    assert second == api_rows(fleet, "limit=50&offset=50")[1]

    browser.evaluate("document.getElementById('q').focus()")
    browser.type("v-0042")
    shown = shown_after(browser, "0", "q=v-0042")
    total, found = api_rows(fleet, "limit=50&q=v-0042")
    assert shown == found and page_total(browser) == total == 10  # V-00420 to V-00429

    low = shown_after(browser, """(() => { const s = document.getElementById('status');
        s.value = 'low_efficiency'; s.dispatchEvent(new Event('change')); })()""",
                      "status=low_efficiency")
    total, found = api_rows(fleet, "limit=50&q=v-0042&status=low_efficiency")
    assert low == found and all(r[2] == "low_efficiency" for r in low)

    browser.evaluate("""(() => { const q = document.getElementById('q'); q.value = '';
        q.dispatchEvent(new Event('input')); })()""")
    browser.wait("document.getElementById('page').textContent.endsWith(' of "
                 f"{api_rows(fleet, 'status=low_efficiency')[0]:,}')")
    by_efficiency = shown_after(browser, "document.querySelector('th[data-sort=efficiency] "
                                         "button').click()", "sort=efficiency")
    assert by_efficiency == api_rows(fleet, "limit=50&status=low_efficiency&sort=efficiency")[1]


def test_the_fleet_page_refreshes_only_the_rows_that_changed(
        fleet: Worker, browser: Browser) -> None:
    browser.open(f"{fleet.url}/?status=ok&sort=vehicleId")
    browser.evaluate("document.querySelectorAll('#fleet-body tr').forEach(tr => tr.kept = 1)")
    browser.evaluate("document.querySelector('#status-counts button').focus()")
    before = browser.evaluate("document.getElementById('refreshed').textContent")
    browser.wait(f"document.getElementById('refreshed').textContent !== {before!r}",
                 timeout=20)
    assert browser.evaluate("[...document.querySelectorAll('#fleet-body tr')]"
                            ".every(tr => tr.kept === 1)")
    # a keyboard user's focus stays where it was
    assert browser.evaluate("document.activeElement.dataset.status") == "low_efficiency"


def test_the_vehicle_page_refresh_keeps_its_charts(fleet: Worker, browser: Browser) -> None:
    browser.open(f"{fleet.url}/vehicles/{PIPELINE_VEHICLE}")
    browser.evaluate("Charts.made.get('chart').kept = 1")
    browser.wait("Charts.made.get('days').data[0].length === 7")
    first = browser.evaluate("Energy.lastGood.getTime()")
    browser.wait(f"Energy.lastGood.getTime() > {first}", timeout=20)
    assert browser.evaluate("Charts.made.get('chart').kept") == 1


def test_the_fleet_page_says_when_the_api_is_down(fleet: Worker, browser: Browser) -> None:
    browser.loop.run_until_complete(browser._call(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "window.fetch = () => Promise.reject(new TypeError('down'));"}))
    browser.open(f"{fleet.url}/", ready="!document.getElementById('error').hidden")
    message = browser.evaluate("document.getElementById('error').textContent")
    assert "Could not load the data: the API cannot be reached" in message
    assert browser.evaluate("document.querySelector('#fleet-body tr.empty').textContent") == \
        "No data yet: the API cannot be reached."


def test_a_loaded_page_keeps_its_rows_when_the_api_goes_away(
        fleet: Worker, browser: Browser) -> None:
    browser.open(f"{fleet.url}/")
    shown = rows(browser)
    browser.evaluate("window.fetch = () => Promise.reject(new TypeError('down'))")
    browser.wait("!document.getElementById('error').hidden", timeout=20)
    assert "Showing the data of" in browser.evaluate(
        "document.getElementById('error').textContent")
    assert rows(browser) == shown


def test_the_vehicle_page_charts_its_hours_with_gaps_and_shows_its_alerts(
        fleet: Worker, browser: Browser) -> None:
    vid = PIPELINE_VEHICLE
    browser.open(f"{fleet.url}/vehicles/{vid}")
    hourly = http_json(f"{fleet.url}/v1/analytics/performance/{vid}/hourly")[1]["hours"]
    assert browser.evaluate("document.querySelectorAll('#hours-body tr').length") == len(hourly)
    plotted = browser.evaluate("Charts.made.get('chart').data[3]")
    assert plotted == [None if h["efficiencyRatio"] is None else
                       pytest.approx(h["efficiencyRatio"] * 100) for h in hourly]
    assert None in plotted, "the parked hour is a gap, not 0%"
    assert browser.evaluate("document.querySelectorAll('#chart canvas, #days canvas').length") \
        == 2
    # hovering an hour shows its AC, DC and efficiency in the legend
    browser.evaluate("""(() => { const u = Charts.made.get('chart');
        u.setCursor({left: u.valToPos(u.data[0][0], 'x'), top: 10}); })()""")
    legend = browser.evaluate("[...document.querySelectorAll('#chart .u-legend .u-value')]"
                              ".map(e => e.textContent)")
    assert legend[1].endswith(" kWh") and legend[2].endswith(" kWh"), legend
    live = http_json(f"{fleet.url}/v1/vehicles/{vid}/live")[1]
    assert browser.evaluate("document.querySelector('[data-field=liveSoc]').textContent") == \
        str(live["soc"])
    assert browser.evaluate("document.getElementById('meter-link').getAttribute('href')") == \
        f"/meters/{PIPELINE_METER}"
    keep(browser, "vehicle")

    low = "V-00001"  # 71% efficient: alerted by the leader
    browser.open(f"{fleet.url}/vehicles/{low}")
    episodes = http_json(f"{fleet.url}/v1/alerts/history?vehicleId={low}")[1]["episodes"]
    assert episodes and browser.evaluate(
        "document.querySelectorAll('#vehicle-alerts-body tr[data-crossed-at]').length") == \
        len(episodes)
    days = browser.evaluate("Charts.made.get('days').data[1]")
    assert len(days) == 7 and days[-1] == pytest.approx(71.0, abs=0.5)


@pytest.mark.parametrize("width", [1280, 480])
def test_the_seven_day_chart_has_one_tick_a_day_each_labelled_once(fleet: Worker,
                                                                   width: int) -> None:
    with Browser(width=width) as browser:
        browser.open(f"{fleet.url}/vehicles/V-00001")
        browser.wait("Charts.made.get('days').data[0].length === 7")
        # the x axis's ticks and labels are drawn on the canvas: read them from uPlot's axis
        axis = browser.evaluate("""(() => { const u = Charts.made.get('days');
            return {ticks: u.axes[0]._splits, labels: u.axes[0]._values, points: u.data[0]};
            })()""")
        assert browser.console == [], f"the browser console said: {browser.console}"
    points = axis["points"]
    assert [b - a for a, b in itertools.pairwise(points)] == [pytest.approx(86_400)] * 6
    assert axis["ticks"] == points  # one tick a day, at its point
    assert axis["labels"] == [datetime.fromtimestamp(x, UTC).strftime("%m-%d") for x in points]
    assert len(set(axis["labels"])) == 7


def test_the_meter_and_alerts_pages_show_what_the_api_says(
        fleet: Worker, browser: Browser) -> None:
    browser.open(f"{fleet.url}/meters/{PIPELINE_METER}")
    hours = http_json(f"{fleet.url}/v1/meters/{PIPELINE_METER}/hours")[1]["hours"]
    assert browser.evaluate("Charts.made.get('chart').data[1].length") == len(hours)
    keep(browser, "meter")
    browser.open(f"{fleet.url}/alerts")
    active = http_json(f"{fleet.url}/v1/alerts")[1]["alerts"]
    assert len(active) > 100  # about 30% of the fleet is below 85%
    shown = browser.evaluate("[...document.querySelectorAll('#active-body tr[data-vehicle-id]')]"
                             ".map(tr => tr.dataset.vehicleId)")
    assert shown == [a["vehicleId"] for a in active[:100]]  # the worst first
    assert not browser.evaluate("document.getElementById('more-active').hidden")
    assert browser.evaluate("document.querySelectorAll('#recent-body tr[data-crossed-at]')"
                            ".length") > 0
    keep(browser, "alerts")


@pytest.mark.parametrize("path", ["/", f"/vehicles/{PIPELINE_VEHICLE}",
                                  f"/meters/{PIPELINE_METER}", "/alerts"])
def test_every_page_meets_wcag_aa(fleet: Worker, browser: Browser, path: str) -> None:
    browser.open(f"{fleet.url}{path}")
    check_accessibility(browser)


def test_the_fleet_is_worked_with_the_keyboard(fleet: Worker, browser: Browser) -> None:
    browser.open(f"{fleet.url}/")
    reached: list[str] = []
    for _ in range(12):
        browser.press("Tab")
        reached.append(browser.evaluate("document.activeElement.id || "
                                        "document.activeElement.textContent.trim()"))
        if reached[-1] == "q":
            break
    assert reached[0] == "Skip to the vehicles" and reached[-1] == "q", reached
    browser.type("V-0000")
    browser.press("Enter")
    browser.wait("document.getElementById('page').textContent.endsWith(' of 9')")
    for _ in range(8):  # on to the first sortable column header
        browser.press("Tab")
        if browser.evaluate("document.activeElement.closest('th') !== null"):
            break
    before = rows(browser)
    browser.press("Enter")
    browser.wait("document.querySelector('th[data-sort=vehicleId]')"
                 ".getAttribute('aria-sort') === 'ascending'")
    browser.wait("document.getElementById('fleet').getAttribute('aria-busy') === 'false'")
    assert [r[0] for r in rows(browser)] == sorted(r[0] for r in before)


def test_screenshots_are_kept_for_the_readme(fleet: Worker) -> None:
    for name in ("fleet", "vehicle", "meter", "alerts"):
        assert (ARTIFACTS / f"{name}.png").is_file(), name
    shutil.copy(ARTIFACTS / "fleet.png", ARTIFACTS / "dashboard.png")
