"""Requests passed on to the workers, as they came, and their answers passed back.

The workers serve everything but ingest (analytics, live state, links, the web view, the
OpenAPI document) on their own ports; the gateway takes turns among ``WORKER_URLS``. A worker
that cannot be reached (nothing was sent) is skipped for the next; when none can be, the answer
is a 503 naming the addresses tried. One aiohttp client session per gateway process, made on
first use on that process's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import aiohttp

# Per connection, not end to end (RFC 9110 7.6.1); content-length is the server's to set.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length", "proxy-connection",
})
TIMEOUT = 120.0  # the longest a read may take (a fleet at 10,000 vehicles: ~3 s)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class NoWorker(Exception):  # noqa: N818 - a condition, said to the client as a 503
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Forwarder:
    def __init__(self, urls: list[str], timeout: float = TIMEOUT) -> None:
        self.urls = urls
        self.timeout = timeout
        self._turn = itertools.count()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, ttl_dns_cache=10),
                timeout=aiohttp.ClientTimeout(total=self.timeout, connect=5),
                auto_decompress=False,  # the body goes back as the worker encoded it
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def order(self) -> list[str]:
        """The workers to try, starting with the next one's turn."""
        start = next(self._turn) % len(self.urls) if self.urls else 0
        return self.urls[start:] + self.urls[:start]

    async def forward(self, method: str, target: str, headers: list[tuple[str, str]],
                      body: bytes, client: str = "") -> Answer:
        """``target``: the path and query string. Raises NoWorker when none answered."""
        if not self.urls:
            raise NoWorker("no worker is configured (WORKER_URLS is empty): this gateway "
                           "serves only POST /v1/telemetry, /healthz, /readyz and /metrics",
                           "none")
        sent = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        if client:
            sent.append(("X-Forwarded-For", client))
        failures: list[str] = []
        for url in self.order():
            try:
                return await self._once(url, method, target, sent, body)
            except aiohttp.ClientConnectorError as exc:  # nothing was sent: try the next
                failures.append(f"{url} ({exc.os_error or exc})")
            except TimeoutError:
                raise NoWorker(f"the worker at {url} did not answer within {self.timeout:g}s",
                               "timeout") from None
        raise NoWorker(f"no worker could be reached: {'; '.join(failures)}. Is "
                       "`energy-ingest worker` running there (WORKER_URLS)?", "connect")

    async def _once(self, url: str, method: str, target: str,
                    headers: list[tuple[str, str]], body: bytes) -> Answer:
        async with self.session().request(method, url + target, headers=headers,
                                          data=body or None, allow_redirects=False) as r:
            payload = await r.read()
            kept = [(k, v) for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP]
            return Answer(r.status, kept, payload)

    async def get_each(self, target: str, timeout: float) -> list[tuple[str, Answer | str]]:
        """``GET target`` from every worker at once: its answer, or why there is none."""
        async def one(url: str) -> tuple[str, Answer | str]:
            try:
                async with asyncio.timeout(timeout):
                    return url, await self._once(url, "GET", target, [], b"")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return url, f"did not answer: {str(exc) or type(exc).__name__}"

        return list(await asyncio.gather(*(one(url) for url in self.urls)))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
