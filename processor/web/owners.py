"""Asking the worker that owns a device's partition: the live and hourly views forward a request
for a device whose table entries another worker holds (``processor/stream/ownership.py`` finds
it) and pass its answer on; with none, PostgreSQL answers.

``X-Live-Source`` says which store answered (``table`` or ``postgresql``); a request sent with
``X-Live-Source: postgresql`` is answered from PostgreSQL. ``X-Live-Forwarded`` marks a request
one worker passed to another, which never forwards it again (two workers that each take the
other for the owner, in the middle of a rebalance, would otherwise pass it back and forth).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from processor.stream.pipeline import Pipeline

log = logging.getLogger(__name__)

SOURCE = "X-Live-Source"  # which store answered: "table" or "postgresql"
FORWARDED = "X-Live-Forwarded"  # on a request one worker passed to the owner: not again
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=2.0)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    source: str  # the owner's X-Live-Source


def database_unavailable(view: Any, exc: BaseException) -> Any:
    """The 503 a read answers when PostgreSQL, the fallback of every table read, is away."""
    return view.json({"error": f"the database is unavailable ({exc}); retry later"}, status=503)


def wants_postgresql(headers: Any) -> bool:
    return headers.get(SOURCE) == "postgresql"


async def ask_owner(p: Pipeline, url: str, path_qs: str, what: str,
                    credentials: dict[str, str]) -> Answer | None:
    """The owner's answer to ``GET {url}{path_qs}``, or None (PostgreSQL answers) when it
    gives none or a 5xx. ``credentials``: the request's API key, which the owner checks too."""
    try:
        async with p.app.http_client.get(f"{url}{path_qs}",
                                         headers={**credentials, FORWARDED: "1"},
                                         timeout=FORWARD_TIMEOUT) as answer:
            body = await answer.read()
            status, source = answer.status, answer.headers.get(SOURCE, "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("%s: the owner %s did not answer (%s); PostgreSQL answers", what, url, exc)
        return None
    if status >= 500:
        log.warning("%s: the owner %s answered %d; PostgreSQL answers", what, url, status)
        return None
    return Answer(status, body, source)
