"""API keys: what a key looks like, which scope a request needs, and the verdict on a request.

A key is ``eik_<id>_<secret>``: the id (12 hex digits) names it in ``keys list`` and ``keys
revoke`` and finds its row; the secret (43 URL-safe characters, 256 random bits) is shown once,
when it is made. Only the SHA-256 digest of the whole key is stored: a slow hash (bcrypt, scrypt)
protects guessable passwords, and nobody guesses 256 random bits, while every request is checked
(the gateway's single POSTs must not get more than 5% slower). Digests are compared in constant
time.

Protected mode: a server bound beyond loopback always requires keys; on loopback it requires
them once one exists (so ``make run`` and the seed's curl commands work until someone makes a
key). Health, readiness, metrics, the OpenAPI document, the login page and the static assets
stay open: probes, scrapers and the login form need them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple
from urllib.parse import quote

Scope = Literal["ingest", "admin", "read"]
SCOPES: tuple[Scope, ...] = ("ingest", "admin", "read")
SCOPE_MEANING: dict[Scope, str] = {
    "ingest": "POST /v1/telemetry",
    "admin": "every change but ingest (PUT and DELETE of vehicle-meter links)",
    "read": "analytics, live state, hours, the web view",
}

PREFIX = "eik"
ID_HEX = 12
COOKIE = "energy_key"  # the web view's login keeps the key here (HttpOnly, SameSite=Strict)
INGEST_PATH = "/v1/telemetry"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/login",
                        "/logout", "/favicon.ico"})
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class NewKey:
    key_id: str
    token: str  # shown once, never stored
    digest: bytes


def make_key() -> NewKey:
    key_id = secrets.token_hex(ID_HEX // 2)
    token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(key_id, token, digest(token))


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def key_id_of(token: str) -> str | None:
    """The id a well-formed key carries; None for anything else."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != ID_HEX or not secret:
        return None
    return key_id


def parse_scopes(values: Iterable[str]) -> tuple[Scope, ...]:
    """``["read,ingest", "admin"]`` -> the scopes in their canonical order; raises ValueError
    naming an unknown one."""
    wanted = {part.strip().lower() for value in values for part in value.split(",")
              if part.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {', '.join(unknown)}: the scopes are "
                         f"{', '.join(SCOPES)}")
    if not wanted:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    digest: bytes
    scopes: frozenset[str]


class KeyRing:
    """The active keys, by id."""

    def __init__(self, keys: Iterable[StoredKey] = ()) -> None:
        self.keys = {k.key_id: k for k in keys}

    def __len__(self) -> int:
        return len(self.keys)

    def scopes_of(self, token: str) -> frozenset[str] | None:
        """The scopes of a valid key, None for an unknown or wrong one."""
        key_id = key_id_of(token)
        stored = self.keys.get(key_id) if key_id else None
        if stored is None:
            hmac.compare_digest(digest(token), digest(""))  # as long as a known id's check
            return None
        return stored.scopes if hmac.compare_digest(digest(token), stored.digest) else None

    def with_key(self, key: StoredKey) -> KeyRing:
        return KeyRing([*self.keys.values(), key])

    def knows(self, token: str) -> bool:
        key_id = key_id_of(token)
        return key_id is not None and key_id in self.keys


def is_loopback(bind: str) -> bool:
    if bind in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "": it may be reached from outside


def protected(bind_public: bool, ring_size: int) -> bool:
    return bind_public or ring_size > 0


def required_scope(method: str, path: str) -> Scope | None:
    """The scope a request needs; None for the open paths."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if path == INGEST_PATH:
        return "ingest" if method == "POST" else "read"
    return "read" if method in SAFE_METHODS else "admin"


class Credential(NamedTuple):  # a tuple: made for every request, at a third of the cost
    token: str
    source: Literal["authorization", "x-api-key", "cookie"]


def credential(headers: Mapping[str, str]) -> Credential | None:
    """The key a request carries: ``Authorization: Bearer``, ``X-API-Key`` or the login
    cookie, in that order. ``headers``: lower-case names."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return Credential(value.strip(), "authorization")
    key = headers.get("x-api-key")
    if key and key.strip():
        return Credential(key.strip(), "x-api-key")
    cookie = cookie_value(headers.get("cookie", ""), COOKIE)
    return Credential(cookie, "cookie") if cookie else None


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value.strip('"')
    return None


@dataclass(frozen=True)
class Verdict:
    """``status`` 0: let the request through; else the answer to give instead."""

    status: int
    error: str = ""
    location: str = ""  # a 303 to the login page (browsers asking for a page)
    challenge: bool = False  # a 401: send WWW-Authenticate

    @property
    def allowed(self) -> bool:
        return self.status == 0


ALLOW = Verdict(0)


def judge(ring: KeyRing | None, bind_public: bool, read_auth: bool, method: str, path: str,
          query: str, headers: Mapping[str, str], found: Credential | None) -> Verdict:
    """Whether a request may go on. ``ring`` None: the keys could not be read (yet), so none
    is known to be good, and none is known not to exist. ``headers``: lower-case names;
    ``found``: the key they carry (``credential(headers)``)."""
    scope = required_scope(method, path)
    if scope is None or (scope == "read" and not read_auth):
        return ALLOW
    if ring is not None and not protected(bind_public, len(ring)):
        return ALLOW
    if found is None:
        if method in SAFE_METHODS and "text/html" in headers.get("accept", ""):
            target = path + (f"?{query}" if query else "")
            return Verdict(303, location=f"/login?next={quote(target, safe='')}")
        return Verdict(401, f"this needs an API key with the {scope} scope: send it as "
                            "'Authorization: Bearer <key>' or 'X-API-Key: <key>' (make one "
                            "with `energy-ingest keys create`)", challenge=True)
    if ring is None:
        return Verdict(503, "the API keys cannot be read from the database now; retry later")
    scopes = ring.scopes_of(found.token)
    if scopes is None:
        return Verdict(401, f"the API key sent in {found.source} is not valid (unknown, "
                            "revoked or mistyped)", challenge=True)
    if found.source == "cookie" and method not in SAFE_METHODS:
        # A cookie goes with every request a browser makes, the forged ones too: it only reads.
        return Verdict(403, f"{method} {path} needs the key in the Authorization or X-API-Key "
                            "header; the login cookie only reads")
    if scope not in scopes:
        return Verdict(403, f"the API key lacks the {scope} scope, which {method} {path} "
                            f"needs (it has: {', '.join(sorted(scopes)) or 'none'})")
    return ALLOW


def safe_next(target: str) -> str:
    """Where a login may send the browser: a path of this site, never another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
