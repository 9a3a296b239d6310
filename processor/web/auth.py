"""API keys in the worker's web server: every request is judged before its view runs (an aiohttp
middleware; the rules are processor/domain/api_keys.py), and the web view's login form.

The gateway judges first; a worker judges again, by the same keys, so one reached directly
(``energy-ingest worker`` alone, or a misplaced firewall) is no open door. The login form keeps
a read key in an HttpOnly cookie; the cookie is honoured for reads only.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from aiohttp import web

from db.api_keys import KeyStore
from processor.domain.api_keys import COOKIE, required_scope, safe_next
from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CREDENTIAL_HEADERS = ("Authorization", "X-API-Key", "Cookie")
COOKIE_MAX_AGE = 30 * 86400
MAX_FORM_BYTES = 4096
LOGGED_IN = "energy_login"  # no secret: tells the pages' script to show "Log out"

LOGIN_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Fleet efficiency</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
</head>
<body data-page="login">
<header><h1>Fleet efficiency</h1></header>
<main>
  <form class="login" method="post" action="/login">
    <h2>Log in with an API key</h2>
    <p>This server requires a key with the <strong>read</strong> scope. An operator makes one
       with <code>energy-ingest keys create --scope read --name you</code>.</p>
    {error}
    <label for="key">API key</label>
    <input id="key" name="key" type="password" autocomplete="current-password" required
           autofocus spellcheck="false">
    <input type="hidden" name="next" value="{next}">
    <button type="submit">Log in</button>
  </form>
</main>
</body>
</html>
"""


def login_page(target: str, error: str = "") -> bytes:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return LOGIN_PAGE.format(error=message, next=html.escape(safe_next(target))).encode()


def forwardable(headers: object) -> dict[str, str]:
    """The credentials of a request, to pass on with it to another worker."""
    get = getattr(headers, "get", None)
    if get is None:
        return {}
    return {name: value for name in CREDENTIAL_HEADERS if (value := get(name))}


def secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def register(p: Pipeline) -> None:
    settings = p.settings
    store = KeyStore(p.dsn, settings.api_keys_refresh_seconds)
    bind_public, read_auth = settings.bind_public, settings.read_auth

    @web.middleware
    async def api_keys(request: web.Request, handler: Handler) -> web.StreamResponse:
        if required_scope(request.method, request.path) is None:
            return await handler(request)
        store.start()  # in the running loop, at the first request that needs the keys
        headers = {k.lower(): v for k, v in request.headers.items()}
        verdict = await store.verdict(bind_public, read_auth, request.method, request.path,
                                      request.query_string, headers)
        if verdict.allowed:
            return await handler(request)
        if verdict.location:
            raise web.HTTPSeeOther(verdict.location)
        extra = {"WWW-Authenticate": 'Bearer realm="energy-ingest"'} if verdict.challenge else {}
        return web.json_response({"error": verdict.error}, status=verdict.status, headers=extra)

    p.app.web.web_app.middlewares.append(api_keys)  # type: ignore[attr-defined]

    async def show_login(request: web.Request) -> web.StreamResponse:
        target = safe_next(request.query.get("next", "/"))
        if (await store.verdict(bind_public, read_auth, "GET", "/", "", {})).allowed:
            raise web.HTTPSeeOther(target)  # reading needs no key here
        return web.Response(body=login_page(target),
                            content_type="text/html", headers={"Cache-Control": "no-store"})

    async def log_in(request: web.Request) -> web.StreamResponse:
        raw = await request.content.read(MAX_FORM_BYTES + 1)
        form = parse_qs(raw[:MAX_FORM_BYTES].decode(errors="replace"))
        key = (form.get("key") or [""])[0].strip()
        target = safe_next((form.get("next") or ["/"])[0])
        ring = await store.current(key or None)
        scopes = ring.scopes_of(key) if ring is not None and key else None
        if ring is None:
            error, status = "The keys cannot be checked now (database unavailable).", 503
        elif scopes is None:
            error, status = "That key is not valid (unknown, revoked or mistyped).", 401
        elif "read" not in scopes:
            error, status = "That key has no read scope: the web view needs one.", 403
        else:
            response = web.HTTPSeeOther(target)
            response.set_cookie(COOKIE, key, max_age=COOKIE_MAX_AGE, path="/", httponly=True,
                                samesite="Lax", secure=secure(request))
            response.set_cookie(LOGGED_IN, "1", max_age=COOKIE_MAX_AGE, path="/",
                                samesite="Lax", secure=secure(request))
            log.info("web view: a browser logged in with key %s", key.split("_")[1])
            raise response
        return web.Response(body=login_page(target, error), status=status,
                            content_type="text/html", headers={"Cache-Control": "no-store"})

    async def log_out(request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        response.del_cookie(LOGGED_IN, path="/")
        raise response

    router = p.app.web.web_app.router  # type: ignore[attr-defined]
    router.add_get("/login", show_login)
    router.add_post("/login", log_in)
    router.add_post("/logout", log_out)
