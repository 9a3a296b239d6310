"""The gateway's own HTTP/1.1 server (processor/gateway/http11.py) on a real socket, with an
application that echoes what it was given: keep-alive, pipelining, bodies by length and chunked,
100-continue, oversized bodies, malformed requests, and a stop that answers what it holds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from processor.gateway import http11


class Echo:
    """An RSGI application answering with what it saw; ``slow`` requests wait first."""

    def __init__(self, slow: float = 0.0) -> None:
        self.slow = slow

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.path == "/slow":
            await asyncio.sleep(self.slow)
        if scope.headers.get("transfer-encoding"):
            size = 0
            async for part in protocol:
                size += len(part)
            body = b""
        else:
            body = await protocol()
            size = len(body)
        answer = {"method": scope.method, "path": scope.path, "query": scope.query_string,
                  "size": size, "body": body[:50].decode(errors="replace"),
                  "agent": scope.headers.get("user-agent")}
        protocol.response_bytes(202, [("content-type", "application/json")],
                                json.dumps(answer).encode())


async def serving(app: Any, max_bytes: int = 1000) -> tuple[http11.Server, Any, int]:
    server = http11.Server(app, max_bytes)
    sock = http11.listening_socket("127.0.0.1", 0)
    listening = await asyncio.get_running_loop().create_server(
        lambda: http11.Connection(server), sock=sock)
    return server, listening, sock.getsockname()[1]


async def exchange(port: int, raw: bytes, answers: int) -> list[tuple[int, dict[str, str], bytes]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    out = []
    for _ in range(answers):
        status_line = await reader.readline()
        if not status_line:
            break
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        out.append((int(status_line.split()[1]), headers, body))
    writer.close()
    return out


def run(app: Any, raw: bytes, answers: int, max_bytes: int = 1000) -> list[Any]:
    async def go() -> list[Any]:
        server, listening, port = await serving(app, max_bytes)
        try:
            return await exchange(port, raw, answers)
        finally:
            listening.close()
    return asyncio.run(go())


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def test_requests_on_one_connection_are_answered_in_order_even_pipelined() -> None:
    raw = post("/slow?x=1", b'{"a":1}') + post("/v1/telemetry", b'{"b":2}')
    [(s1, h1, b1), (s2, h2, b2)] = run(Echo(slow=0.05), raw, 2)
    assert (s1, s2) == (202, 202)
    assert json.loads(b1)["path"] == "/slow" and json.loads(b1)["query"] == "x=1"
    assert json.loads(b2)["body"] == '{"b":2}'
    assert "connection" not in h1 and h1["date"].endswith("GMT")


def test_a_chunked_body_and_100_continue() -> None:
    raw = (b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Expect: 100-continue\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    reader_answers = run(Echo(), raw, 2)
    assert reader_answers[0][0] == 100
    assert json.loads(reader_answers[1][2])["size"] == 11


def test_what_is_past_the_limit_is_counted_not_kept() -> None:
    body = b"x" * 5000
    raw = (b"POST /v1/telemetry HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    [(status, _, answer)] = run(Echo(), raw, 1, max_bytes=1000)
    assert status == 202 and json.loads(answer)["size"] == 5000  # the app can say 413


def test_a_malformed_request_gets_a_400_and_the_connection_closes() -> None:
    [(status, headers, body)] = run(Echo(), b"NOT HTTP AT ALL\r\n\r\n", 1)
    assert status == 400 and headers["connection"] == "close"
    assert "malformed" in json.loads(body)["error"]


def test_connection_close_is_honoured() -> None:
    raw = post("/v1/telemetry", b"{}", "Connection: close\r\n") + post("/v1/telemetry", b"{}")
    answers = run(Echo(), raw, 2)
    assert len(answers) == 1 and answers[0][1]["connection"] == "close"


def test_a_stopping_server_answers_what_it_holds_then_closes() -> None:
    async def go() -> tuple[list[Any], bool]:
        server, listening, port = await serving(Echo(slow=0.2))
        asked = asyncio.ensure_future(exchange(port, post("/slow", b"{}"), 1))
        await asyncio.sleep(0.05)
        await server.stop(listening)
        refused = False
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            refused = True
        return await asked, refused
    answers, refused = asyncio.run(go())
    assert answers[0][0] == 202 and refused


def test_processes_share_the_port() -> None:
    one = http11.listening_socket("127.0.0.1", 0)
    two = http11.listening_socket("127.0.0.1", one.getsockname()[1])  # SO_REUSEPORT
    assert one.getsockname() == two.getsockname()
    one.close()
    two.close()


def test_a_gateway_process_ends_when_its_parent_is_killed(tmp_path: Any) -> None:
    """A server process of the gateway started as ``serve`` starts them outlives no parent,
    even one killed with SIGKILL (it would keep the port)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "from processor.processes import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " preexec_fn=die_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=os.getcwd())
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("the child outlived its killed parent")
