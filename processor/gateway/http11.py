"""The gateway's own HTTP/1.1 server: an asyncio protocol with httptools' parser on uvloop, one
process per ``GATEWAY_PROCESSES``, each on its own ``SO_REUSEPORT`` socket.

Why not Granian, the server before: under a client whose requests arrive spread out (Node.js's
``http`` with keep-alive, the kind of client users judge us with), Granian hands every request
from its Rust thread to the Python event loop, a wake-up of its own each time: 149 us of CPU a
request answering unread, where this server spends what the parse, one callback and the answer
cost on the event loop's own thread (docs/performance.md, "HTTP ingest under a Node.js
client"). The application is unchanged: ``processor/gateway/app.py`` speaks RSGI's small
protocol (``scope``, ``protocol()``, ``response_bytes``), which this module provides; Granian
still serves it with ``GATEWAY_SERVER=granian``.

Connections are kept alive; requests on one connection are answered in order (pipelining is
allowed, and served one after the other). A body is read whole before the application sees it,
up to ``HTTP_MAX_BYTES`` kept (the rest counted, up to the drain limit, then the connection is
closed). On SIGTERM a process stops accepting, answers the requests it holds (after the
broker's ack, as always), flushes its producer and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httptools

from processor.processes import die_with_parent

log = logging.getLogger("energy-ingest")

DRAIN_BYTES = 64_000_000  # beyond this a body is not read further: the connection is closed
REASONS = {200: b"OK", 202: b"Accepted", 204: b"No Content", 303: b"See Other",
           400: b"Bad Request", 401: b"Unauthorized", 403: b"Forbidden", 404: b"Not Found",
           405: b"Method Not Allowed", 413: b"Content Too Large", 415: b"Unsupported Media Type",
           422: b"Unprocessable Content", 500: b"Internal Server Error",
           502: b"Bad Gateway", 503: b"Service Unavailable", 504: b"Gateway Timeout"}
STOP_SECONDS = 30.0  # the longest a stopping process waits for the answers it owes


class Headers(dict[str, str]):
    """A request's headers by lower-case name (a repeated one: its values joined by ", ")."""


class Scope:
    """What RSGI's ``scope`` carries, as ``processor/gateway/app.py`` reads it."""

    __slots__ = ("client", "headers", "method", "path", "query_string")
    proto = "http"

    def __init__(self, method: str, path: str, query_string: str, headers: Headers,
                 client: str) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.client = client


class Body:
    """RSGI's ``protocol`` for one request: the body (``await body()`` or ``async for``) and
    the answer (``response_bytes``, ``response_empty``)."""

    __slots__ = ("answer", "chunks", "size")

    def __init__(self, chunks: list[bytes], size: int) -> None:
        self.chunks = chunks
        self.size = size  # as received, also past what was kept
        self.answer: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def __call__(self) -> bytes:
        return b"".join(self.chunks)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._parts()

    async def _parts(self) -> AsyncIterator[bytes]:
        kept = 0
        for chunk in self.chunks:
            kept += len(chunk)
            yield chunk
        if self.size > kept:  # what was not kept, as one part of its size
            yield bytes(self.size - kept)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, headers, body)

    def response_empty(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.answer = (status, headers, b"")


class Clock:
    """The ``date`` header, formatted once a second."""

    def __init__(self) -> None:
        self.second = 0
        self.value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = email.utils.formatdate(now, usegmt=True).encode()
        return self.value


CLOCK = Clock()


def head(status: int, headers: Iterable[tuple[str, str]], length: int, keep_alive: bool,
         with_length: bool = True) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"Unknown")),
             b"date: " + CLOCK.date() + b"\r\n"]
    lines.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
    if with_length:
        lines.append(b"content-length: %d\r\n" % length)
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class Connection(asyncio.Protocol):
    """One client connection: parse, hand each request to the application, answer in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)
        self.client = ""
        self.queue: deque[tuple[Scope, Body, bool]] = deque()  # parsed, not answered yet
        self.busy = False
        self.closing = False
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers = Headers()
        self.chunks: list[bytes] = []
        self.kept = 0
        self.size = 0

    # --- asyncio ---------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if peer else ""
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.closing = True

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, b'{"error":"protocol upgrades are not served"}')
        except httptools.HttpParserError as exc:
            self._refuse(400, b'{"error":"malformed HTTP request: %s"}'
                         % str(exc).replace('"', "'").encode())

    def _refuse(self, status: int, body: bytes) -> None:
        if not self.closing:
            self.transport.write(head(status, [("content-type", "application/json")],
                                      len(body), False) + body)
        self.closing = True
        self.transport.close()

    # --- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        if self.headers.get("expect", "").lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.kept + len(body) <= self.server.max_bytes:
            self.chunks.append(body)
            self.kept += len(body)
        elif self.size > DRAIN_BYTES:
            self._refuse(413, b'{"error":"the body is too large","accepted":0}')

    def on_message_complete(self) -> None:
        parsed = httptools.parse_url(self.url)
        scope = Scope(self.parser.get_method().decode(), parsed.path.decode("latin-1"),
                      (parsed.query or b"").decode("latin-1"), self.headers, self.client)
        keep_alive = self.parser.should_keep_alive() and not self.server.stopping
        self.queue.append((scope, Body(self.chunks, self.size), keep_alive))
        if not self.busy:
            self.busy = True
            self.server.loop.create_task(self._serve())

    # --- answering -------------------------------------------------------------------------

    async def _serve(self) -> None:
        app = self.server.app
        try:
            while self.queue and not self.closing:
                scope, body, keep_alive = self.queue.popleft()
                self.server.in_flight += 1
                try:
                    await app.__rsgi__(scope, body)
                finally:
                    self.server.in_flight -= 1
                status, headers, payload = body.answer or (
                    500, [("content-type", "application/json")],
                    b'{"error":"the gateway gave no answer","accepted":0}')
                if self.closing:
                    return
                if scope.method == "HEAD":
                    self.transport.write(head(status, headers, len(payload), keep_alive))
                else:
                    self.transport.write(head(status, headers, len(payload), keep_alive)
                                         + payload)
                if not keep_alive:
                    self.closing = True
                    self.transport.close()
                    return
        finally:
            self.busy = False

    def idle(self) -> bool:
        return not self.busy and not self.queue


class Server:
    """One process's server: its socket, its connections, the application."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.loop = asyncio.get_event_loop()
        self.connections: set[Connection] = set()
        self.in_flight = 0
        self.stopping = False

    async def stop(self, server: asyncio.AbstractServer) -> None:
        """Accept no more, answer what is held, then close the idle connections."""
        self.stopping = True
        server.close()
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and not all(c.idle() for c in self.connections):
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            connection.transport.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket of this process on (host, port), shared with the other processes' through
    ``SO_REUSEPORT``: the kernel spreads the connections over them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def run_process(host: str, port: int) -> None:
    """One gateway process: the application of processor/gateway/app.py on this server."""
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    from processor.gateway.app import app

    server = Server(app, app.settings.http_max_bytes)
    sock = listening_socket(host, port)
    app.__rsgi_init__(loop)
    listening = loop.run_until_complete(
        loop.create_server(lambda: Connection(server), sock=sock))
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        loop.run_until_complete(stopping.wait())
        loop.run_until_complete(server.stop(listening))
    finally:
        app.__rsgi_del__(loop)
        loop.close()


def serve(host: str, port: int, processes: int) -> int:
    """Start ``processes`` gateway processes and watch them: one that fails is started again;
    SIGTERM or SIGINT stops them all (each answers what it holds first)."""
    command = [sys.executable, "-m", "processor.gateway.http11", host, str(port)]
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, preexec_fn=die_with_parent)  # ends with the gateway

    for index in range(processes):
        children[index] = start()
    while True:
        time.sleep(0.2)
        for index, child in list(children.items()):
            code = child.poll()
            if code is None:
                continue
            if stopping:
                continue
            log.warning("gateway: process %d exited with %s; starting it again", child.pid, code)
            children[index] = start()
        if stopping:
            deadline = time.monotonic() + STOP_SECONDS + 5
            for child in children.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(max(0.1, deadline - time.monotonic()))
                if child.poll() is None:
                    child.kill()
                    child.wait()
            return 0


if __name__ == "__main__":
    run_process(sys.argv[1], int(sys.argv[2]))
    os._exit(0)
