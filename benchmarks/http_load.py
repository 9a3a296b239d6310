"""A light HTTP/1.1 load generator: keep-alive connections, one request in flight on each.

The harness shares the machine's two cores with the system it measures, so the load generator's
own cost matters: an aiohttp client spends ~300 us of CPU a request here, as much as the server
under test, and capped the measurement near 1,500 requests/s. This one sends requests encoded
beforehand on asyncio protocols and reads only the status line and ``Content-Length`` of each
answer (~20-30 us a request), as wrk or autocannon would. Every answer is still read whole and
its status counted; an answer it cannot frame (no ``Content-Length``) counts as an error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

HEAD_END = b"\r\n\r\n"


@dataclass
class Load:
    requests: int = 0
    readings: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


def encode_requests(url: str, bodies: Sequence[tuple[bytes, int]],
                    content_type: str = "application/json",
                    headers: dict[str, str] | None = None) -> list[tuple[bytes, int]]:
    """Each (body, readings) as the whole POST request's bytes, and its readings."""
    parts = urlsplit(url)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: {content_type}\r\n{extra}")
    return [((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body, count)
            for body, count in bodies]


def content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return None


class Client(asyncio.Protocol):
    """One connection: send a request, read its answer, send the next, until the deadline."""

    def __init__(self, requests: Sequence[tuple[bytes, int]], cursor: list[int], load: Load,
                 deadline: float, done: asyncio.Future[None]) -> None:
        self.requests, self.cursor, self.load = requests, cursor, load
        self.deadline, self.done = deadline, done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent_at = 0.0
        self.readings = 0
        self.sent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if self.sent and time.monotonic() >= self.deadline:  # each connection sends one at least
            self.transport.close()
            return
        request, self.readings = self.requests[self.cursor[0] % len(self.requests)]
        self.cursor[0] += 1
        self.sent += 1
        self.sent_at = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(HEAD_END)
        if end < 0:
            return
        head = self.buffer[:end]
        length = content_length(head)
        if length is None:
            self.fail()
            return
        whole = end + len(HEAD_END) + length
        if len(self.buffer) < whole:
            return
        status = int(head[9:12])
        self.buffer = self.buffer[whole:]
        load = self.load
        load.latencies.append(time.perf_counter() - self.sent_at)
        load.statuses[status] = load.statuses.get(status, 0) + 1
        load.requests += 1
        if status == 202:
            load.readings += self.readings
        self.send()

    def fail(self) -> None:
        self.load.errors += 1
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.monotonic() < self.deadline:  # closed by the server before the end
            self.load.errors += 1
        if not self.done.done():
            self.done.set_result(None)


async def drive(url: str, requests: Sequence[tuple[bytes, int]], concurrency: int,
                seconds: float) -> tuple[Load, float]:
    """``concurrency`` connections send ``requests`` (from ``encode_requests``, cycling) for
    ``seconds``; (load, elapsed)."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"{url}: the load generator needs a host and a port")
    loop = asyncio.get_running_loop()
    load = Load()
    cursor = [0]
    started = time.monotonic()
    deadline = started + seconds
    finished: list[asyncio.Future[None]] = []
    for _ in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        finished.append(done)
        await loop.create_connection(
            lambda done=done: Client(requests, cursor, load, deadline, done),  # type: ignore[misc]
            parts.hostname, parts.port)
    await asyncio.wait_for(asyncio.gather(*finished), seconds + 60)
    return load, time.monotonic() - started


def run_load(url: str, requests: list[tuple[bytes, int]], concurrency: int,
             seconds: float) -> tuple[Load, float]:
    """``drive`` on its own event loop (uvloop when there is one)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(drive(url, requests, concurrency, seconds))
    return uvloop.run(drive(url, requests, concurrency, seconds))
