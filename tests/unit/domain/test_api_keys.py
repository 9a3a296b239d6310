"""API keys: their form, which scope a request needs, and the verdict on any request."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.domain.api_keys import (
    COOKIE,
    KeyRing,
    StoredKey,
    credential,
    digest,
    is_loopback,
    judge,
    key_id_of,
    make_key,
    parse_scopes,
    required_scope,
    safe_next,
)

READER = make_key()
WRITER = make_key()
RING = KeyRing([StoredKey(READER.key_id, READER.digest, frozenset({"read"})),
                StoredKey(WRITER.key_id, WRITER.digest, frozenset({"ingest", "admin"}))])


def verdict(method: str, path: str, headers: dict[str, str], *, ring: KeyRing | None = RING,
            public: bool = False, read_auth: bool = True, query: str = "") -> tuple[int, str]:
    v = judge(ring, public, read_auth, method, path, query, headers, credential(headers))
    return v.status, v.error or v.location


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_key_carries_its_id_and_only_its_digest_is_kept() -> None:
    key = make_key()
    assert key.token.startswith(f"eik_{key.key_id}_")
    assert len(key.key_id) == 12 and len(key.token) == 4 + 12 + 1 + 43
    assert key_id_of(key.token) == key.key_id
    assert key.digest == digest(key.token) and len(key.digest) == 32
    assert make_key().token != key.token


@pytest.mark.parametrize("token", ["", "eik", "eik_", "eik_abc_secret", "xyz_0123456789ab_s",
                                   "eik_0123456789ab_", "Bearer eik_0123456789ab_s"])
def test_malformed_keys_carry_no_id(token: str) -> None:
    assert key_id_of(token) is None


def test_the_ring_knows_a_key_by_its_whole_text_only() -> None:
    assert RING.scopes_of(READER.token) == {"read"}
    assert RING.scopes_of(WRITER.token) == {"ingest", "admin"}
    assert RING.scopes_of(READER.token[:-1] + ("A" if READER.token[-1] != "A" else "B")) is None
    assert RING.scopes_of(make_key().token) is None  # well formed, unknown id
    assert RING.knows(READER.token) and not RING.knows(make_key().token)


@given(st.text())
def test_any_text_as_a_key_is_judged_never_raises(token: str) -> None:
    assert RING.scopes_of(token) is None
    status, _ = verdict("GET", "/v1/analytics/fleet", {"x-api-key": token})
    assert status in (401, 0) and (status == 401 or not token.strip())


@given(st.dictionaries(st.sampled_from(["authorization", "x-api-key", "cookie", "accept"]),
                       st.text()),
       st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]), st.text())
def test_any_headers_get_a_verdict(headers: dict[str, str], method: str, path: str) -> None:
    status, _ = verdict(method, path, headers, public=True)
    assert status in (0, 303, 401, 403)


def test_scopes_are_read_in_canonical_order_and_unknown_ones_named() -> None:
    assert parse_scopes(["read,ingest", " admin "]) == ("ingest", "admin", "read")
    assert parse_scopes(["READ"]) == ("read",)
    with pytest.raises(ValueError, match="unknown scope write"):
        parse_scopes(["read,write"])
    with pytest.raises(ValueError, match="at least one scope"):
        parse_scopes([" , "])


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("POST", "/v1/telemetry", "ingest"),
    ("GET", "/v1/telemetry", "read"),
    ("PUT", "/v1/fleet/vehicles/V1/meter", "admin"),
    ("DELETE", "/v1/fleet/vehicles/V1/meter", "admin"),
    ("GET", "/v1/analytics/fleet", "read"),
    ("HEAD", "/vehicles/V1", "read"),
    ("GET", "/", "read"),
    ("GET", "/table", "read"),  # Faust's own views too
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/metrics", None),
    ("GET", "/openapi.json", None),
    ("POST", "/login", None),
    ("GET", "/static/app.css", None),
])
def test_each_request_needs_its_scope(method: str, path: str, scope: str | None) -> None:
    assert required_scope(method, path) == scope


def test_on_loopback_without_keys_everything_is_open() -> None:
    assert verdict("POST", "/v1/telemetry", {}, ring=KeyRing()) == (0, "")
    assert verdict("PUT", "/v1/fleet/vehicles/V1/meter", {}, ring=KeyRing()) == (0, "")


def test_beyond_loopback_a_key_is_required_even_with_none_made() -> None:
    status, error = verdict("GET", "/v1/analytics/fleet", {}, ring=KeyRing(), public=True)
    assert status == 401 and "read scope" in error


def test_once_a_key_exists_loopback_requires_keys_too() -> None:
    status, error = verdict("POST", "/v1/telemetry", {})
    assert status == 401 and "ingest scope" in error and "X-API-Key" in error
    assert verdict("POST", "/v1/telemetry", bearer(WRITER.token))[0] == 0
    assert verdict("POST", "/v1/telemetry", {"x-api-key": WRITER.token})[0] == 0


def test_a_key_without_the_scope_is_forbidden_and_told_which() -> None:
    status, error = verdict("POST", "/v1/telemetry", bearer(READER.token))
    assert status == 403 and "lacks the ingest scope" in error and "has: read" in error
    assert verdict("GET", "/v1/analytics/fleet", bearer(WRITER.token))[0] == 403
    assert verdict("PUT", "/v1/fleet/vehicles/V1/meter", bearer(READER.token))[0] == 403
    assert verdict("PUT", "/v1/fleet/vehicles/V1/meter", bearer(WRITER.token))[0] == 0


def test_a_wrong_key_is_unauthorized_and_never_echoed() -> None:
    wrong = make_key().token
    status, error = verdict("GET", "/v1/analytics/fleet", bearer(wrong))
    assert status == 401 and "authorization" in error and wrong not in error


def test_read_auth_off_leaves_reads_open_but_not_changes() -> None:
    assert verdict("GET", "/v1/analytics/fleet", {}, read_auth=False, public=True)[0] == 0
    assert verdict("POST", "/v1/telemetry", {}, read_auth=False, public=True)[0] == 401


def test_a_browser_asking_for_a_page_is_sent_to_the_login_form() -> None:
    status, location = verdict("GET", "/vehicles/V 1", {"accept": "text/html,*/*"}, query="at=x")
    assert status == 303 and location == "/login?next=%2Fvehicles%2FV%201%3Fat%3Dx"


def test_the_login_cookie_reads_but_changes_nothing() -> None:
    cookie = {"cookie": f"other=1; {COOKIE}={READER.token}"}
    assert verdict("GET", "/v1/analytics/fleet", cookie)[0] == 0
    admin_cookie = {"cookie": f"{COOKIE}={WRITER.token}"}
    status, error = verdict("PUT", "/v1/fleet/vehicles/V1/meter", admin_cookie)
    assert status == 403 and "cookie only reads" in error


def test_keys_not_yet_read_refuse_with_503_and_never_open_up() -> None:
    assert verdict("GET", "/v1/analytics/fleet", bearer(READER.token), ring=None)[0] == 503
    assert verdict("GET", "/v1/analytics/fleet", {}, ring=None)[0] == 401
    assert verdict("GET", "/healthz", {}, ring=None)[0] == 0


def test_credentials_are_found_in_order_of_precedence() -> None:
    found = credential({"authorization": "Bearer  abc ", "x-api-key": "def"})
    assert found is not None and (found.token, found.source) == ("abc", "authorization")
    found = credential({"authorization": "Basic Zm9v", "x-api-key": "def"})
    assert found is not None and (found.token, found.source) == ("def", "x-api-key")
    assert credential({"authorization": "Bearer "}) is None
    assert credential({"cookie": f"{COOKIE}="}) is None


@pytest.mark.parametrize(("target", "safe"), [
    ("/vehicles/V1?at=1", "/vehicles/V1?at=1"), ("//evil.example/", "/"),
    ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/"),
])
def test_a_login_only_returns_to_this_site(target: str, safe: str) -> None:
    assert safe_next(target) == safe


@pytest.mark.parametrize(("bind", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False),
    ("10.0.0.5", False), ("example.com", False),
])
def test_which_binds_are_loopback(bind: str, loopback: bool) -> None:
    assert is_loopback(bind) is loopback
