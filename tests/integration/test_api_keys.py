"""API keys end to end: `energy-ingest keys` makes, lists and revokes them; a gateway and a
worker of this module's own (own broker, own database: the session's worker stays open) judge
every request by them; the web view logs in with a read key; the log never shows a key.

The tests run in order, as an operator's day: open at first, then keys made, used, revoked.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from schemathesis.specs.openapi.checks import ignored_auth

from benchmarks.browser import CHROMIUM, Browser
from processor.errors import EXIT_STARTUP
from tests.accessibility import check_accessibility
from tests.conftest import APP_ID, PARTITIONS, Services, separate_broker, separate_database
from tests.contract import CHECKS, contract_failures
from tests.helpers import ROOT, Worker, start_worker, uid, wait_until

pytestmark = pytest.mark.integration

REFRESH = "1"  # API_KEYS_REFRESH_SECONDS: a revoked key stops working within a second


@dataclass
class System:
    worker: Worker
    dsn: str
    keys: dict[str, str]  # name -> key

    @property
    def url(self) -> str:
        return self.worker.url


def energy(dsn: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processor.ops.cli", *args], cwd=ROOT,
                          env={**os.environ, "DATABASE_URL": dsn, **env}, capture_output=True,
                          text=True, timeout=120)


def make_key(system: System, name: str, *scopes: str) -> str:
    made = energy(system.dsn, "keys", "create", *(f"--scope={s}" for s in scopes),
                  "--name", name)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("eik_") and "\n" not in key, made.stdout
    assert "shown only this once" in made.stderr
    system.keys[name] = key
    return key


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body), redirects not followed; a header sent twice (Set-Cookie) has
    its values on lines of their own."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                     headers=headers or {})
        answer = conn.getresponse()
        headers: dict[str, str] = {}
        for name, value in answer.getheaders():
            key = name.lower()
            headers[key] = f"{headers[key]}\n{value}" if key in headers else value
        return answer.status, headers, answer.read()
    finally:
        conn.close()


def reading() -> bytes:
    return (b'{"meterId": "MK%s", "kwhConsumedAc": 1.0, "voltage": 230,'
            b' "timestamp": "2026-03-01T00:00:00Z"}' % uid().encode())


JSON = {"Content-Type": "application/json"}
FLEET = "/v1/analytics/fleet"


@pytest.fixture(scope="module")
def system(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    directory = tmp_path_factory.mktemp("api-keys")
    with separate_broker(directory) as bootstrap, separate_database(services.dsn) as dsn:
        worker = start_worker(bootstrap, dsn, directory, TELEMETRY_PARTITIONS=str(PARTITIONS),
                              APP_ID=APP_ID, API_KEYS_REFRESH_SECONDS=REFRESH,
                              DATABASE_URL=dsn)
        try:
            yield System(worker, dsn, {})
        finally:
            worker.stop()


def test_bound_beyond_loopback_without_a_key_it_refuses_to_start(system: System) -> None:
    refused = energy(system.dsn, "gateway", WEB_BIND="0.0.0.0", WEB_PORT="1",
                     KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert refused.returncode == EXIT_STARTUP, refused.stderr
    assert "WEB_BIND=0.0.0.0 serves the API beyond this machine" in refused.stderr
    assert "energy-ingest keys create --scope" in refused.stderr


def test_on_loopback_with_no_key_the_api_stays_open(system: System) -> None:
    status, _, body = request(f"{system.url}/v1/telemetry", "POST", reading(), JSON)
    assert status == 202, body
    assert request(f"{system.url}{FLEET}")[0] == 200


def test_once_a_key_exists_every_request_needs_one(system: System) -> None:
    ingest = make_key(system, "producer", "ingest")
    # the made key works at once (an unknown id makes the servers read the keys again) ...
    status, _, body = request(f"{system.url}/v1/telemetry", "POST", reading(),
                              {**JSON, "Authorization": f"Bearer {ingest}"})
    assert status == 202, body
    # ... and a request without one is refused from the next reading of the keys on
    wait_until(lambda: request(f"{system.url}/v1/telemetry", "POST", reading(), JSON)[0] == 401,
               timeout=15, what="the gateway to require keys")
    status, headers, body = request(f"{system.url}/v1/telemetry", "POST", reading(), JSON)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert b"ingest scope" in body and b"X-API-Key" in body
    status, _, body = request(f"{system.url}/v1/telemetry", "POST", reading(),
                              {**JSON, "X-API-Key": ingest})
    assert status == 202, body


def test_each_scope_allows_its_requests_only(system: System) -> None:
    ingest = system.keys["producer"]
    reader = make_key(system, "fleet manager", "read")
    admin = make_key(system, "operator", "admin")
    link = "/v1/fleet/vehicles/VK1/meter"
    for url in (system.url, system.worker.direct_url):  # the worker judges what reaches it too
        assert request(f"{url}{FLEET}")[0] == 401
        assert request(f"{url}{FLEET}", headers={"X-API-Key": reader})[0] == 200
        status, _, body = request(f"{url}{FLEET}", headers={"X-API-Key": ingest})
        assert status == 403 and b"lacks the read scope" in body
        assert request(f"{url}{FLEET}", headers={"Authorization": f"Bearer {ingest}x"})[0] == 401
        body_link = b'{"meterId": "MK1"}'
        status, _, body = request(f"{url}{link}", "PUT", body_link,
                                  {**JSON, "Authorization": f"Bearer {reader}"})
        assert status == 403 and b"lacks the admin scope" in body
        status, _, body = request(f"{url}{link}", "PUT", body_link,
                                  {**JSON, "Authorization": f"Bearer {admin}"})
        assert status == 200, body
    status, _, body = request(f"{system.url}/v1/telemetry", "POST", reading(),
                              {**JSON, "X-API-Key": admin})
    assert status == 403 and b"lacks the ingest scope" in body
    # probes, scrapers and the contract stay open
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/static/app.css"):
        assert request(f"{system.url}{path}")[0] in (200, 503), path


def test_the_web_view_logs_in_with_a_read_key(system: System) -> None:
    page = f"{system.url}/vehicles/VK1?at=2026-03-01T12:00:00Z"
    status, headers, _ = request(page, headers={"Accept": "text/html"})
    assert status == 303
    assert headers["location"] == ("/login?next=%2Fvehicles%2FVK1%3Fat%3D2026-03-01T12%3A00"
                                   "%3A00Z")
    status, _, form = request(f"{system.url}{headers['location']}")
    assert status == 200 and b'name="key"' in form
    assert b'value="/vehicles/VK1?at=2026-03-01T12:00:00Z"' in form
    login = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, form = request(f"{system.url}/login", "POST",
                              urlencode({"key": "eik_000000000000_nope", "next": "/"}).encode(),
                              login)
    assert status == 401 and b"not valid" in form
    status, _, form = request(f"{system.url}/login", "POST",
                              urlencode({"key": system.keys["producer"]}).encode(), login)
    assert status == 403 and b"no read scope" in form
    status, headers, _ = request(
        f"{system.url}/login", "POST",
        urlencode({"key": system.keys["fleet manager"], "next": "//evil.example/"}).encode(),
        login)
    assert status == 303 and headers["location"] == "/"
    cookies = headers["set-cookie"].splitlines()
    key_cookie = next(c for c in cookies if c.startswith("energy_key="))
    assert "HttpOnly" in key_cookie and "SameSite=Lax" in key_cookie
    assert any(c.startswith("energy_login=1") and "HttpOnly" not in c for c in cookies)
    jar = "; ".join(c.split(";")[0] for c in cookies)
    assert request(page, headers={"Accept": "text/html", "Cookie": jar})[0] == 200
    assert request(f"{system.url}{FLEET}", headers={"Cookie": jar})[0] == 200
    status, _, body = request(f"{system.url}/v1/fleet/vehicles/VK1/meter", "DELETE",
                              headers={"Cookie": jar})
    assert status == 403 and b"cookie only reads" in body
    status, headers, _ = request(f"{system.url}/logout", "POST", b"", {"Cookie": jar})
    assert status == 303 and 'energy_key=""' in headers["set-cookie"]


def test_the_api_keeps_its_contract_and_enforces_keys(system: System) -> None:
    everything = make_key(system, "contract", "ingest,admin,read")
    operations, failures = contract_failures(system.url, {"Authorization": f"Bearer {everything}"},
                                             [*CHECKS, ignored_auth])
    assert operations >= 8
    assert not failures, "\n\n".join(failures)


def test_keys_are_listed_revoked_and_never_logged(system: System) -> None:
    listed = energy(system.dsn, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    for name in ("producer", "fleet manager", "operator"):
        assert name in listed.stdout
    assert "ingest,admin,read" in listed.stdout
    reader = system.keys["fleet manager"]
    revoked = energy(system.dsn, "keys", "revoke", reader)  # the whole key names it too
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    wait_until(lambda: request(f"{system.url}{FLEET}", headers={"X-API-Key": reader})[0] == 401,
               timeout=15, what="the revoked key to stop working")
    again = energy(system.dsn, "keys", "revoke", reader.split("_")[1])
    assert again.returncode == 1 and "no active key" in again.stderr
    after = energy(system.dsn, "keys", "list").stdout.splitlines()
    row = next(line for line in after if line.startswith(reader.split("_")[1]))
    assert not row.endswith("-"), row  # its REVOKED column holds when
    gateway = system.worker.gateway
    assert gateway is not None
    logs = system.worker.log() + gateway.log()
    for key in system.keys.values():
        assert key.split("_", 2)[2] not in logs
    bad = energy(system.dsn, "keys", "create", "--scope", "write")
    assert bad.returncode != 0 and "unknown scope write" in bad.stderr


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium missing: run `make chromium`")
def test_the_login_form_in_a_browser_meets_wcag_aa_and_leads_to_the_page(
        system: System) -> None:
    reader = make_key(system, "browser", "read")
    with Browser() as browser:
        browser.open(f"{system.url}/?q=VK", ready="document.body.dataset.page === 'login'")
        check_accessibility(browser)
        browser.evaluate(f"document.getElementById('key').value = {json.dumps(reader)}")
        browser.evaluate("document.querySelector('form.login').submit()")
        browser.wait("document.body.dataset.page === 'fleet' && "
                      "document.body.dataset.loaded === 'true' && "
                      "!document.getElementById('logout').hidden")
        assert browser.evaluate("location.pathname + location.search").startswith("/?")
        assert "q=VK" in browser.evaluate("location.search")
        assert browser.console == [], browser.console
