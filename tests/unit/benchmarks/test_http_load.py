"""The benchmark's HTTP load generator against a real local aiohttp server."""

from __future__ import annotations

import asyncio

from aiohttp import web

from benchmarks.http_load import content_length, drive, encode_requests


def test_requests_are_encoded_whole_and_answers_framed_by_content_length() -> None:
    (request, count), = encode_requests("http://127.0.0.1:9/v1/telemetry", [(b'{"a":1}', 3)])
    assert count == 3
    assert request == (b"POST /v1/telemetry HTTP/1.1\r\nHost: 127.0.0.1:9\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}")
    assert content_length(b"HTTP/1.1 202 Accepted\r\ncontent-length: 15\r\nX: y") == 15
    assert content_length(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked") is None


def test_drive_counts_every_answer_and_its_status() -> None:
    seen: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append(body)
        status = 202 if body.startswith(b"[") else 422
        return web.json_response({"n": len(body)}, status=status)

    async def scenario() -> tuple[int, int, dict[int, int], int]:
        app = web.Application()
        app.router.add_post("/v1/telemetry", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/v1/telemetry"
        try:
            load, _ = await drive(url, encode_requests(url, [(b"[1,2]", 2), (b"{}", 1)]),
                                  concurrency=3, seconds=0.3)
        finally:
            await runner.cleanup()
        return load.requests, load.readings, load.statuses, load.errors

    requests, readings, statuses, errors = asyncio.run(scenario())
    assert errors == 0
    assert requests == len(seen) > 10
    assert statuses[202] + statuses[422] == requests
    assert readings == 2 * statuses[202]  # only accepted requests' readings count
    assert set(seen) == {b"[1,2]", b"{}"}
