"""The HTTP server comparison's pure parts: the answers every candidate serves, the run plan,
the checks and the summary (benchmarks/http_servers.py, benchmarks/http_server_apps.py)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.http_server_apps import asgi_app, respond, rsgi_app, validate_answer
from benchmarks.http_servers import (
    CANDIDATES,
    all_accepted,
    best_configs,
    per_request_us,
    plan_runs,
    table,
)

AN_HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
METER = {"type": "meter", "meterId": "M-1", "kwhConsumedAc": 1.5, "voltage": 230,
         "timestamp": AN_HOUR_AGO}
VEHICLE = {"type": "vehicle", "vehicleId": "V-1", "soc": 50, "kwhDeliveredDc": 1.2,
           "batteryTemp": 30, "timestamp": AN_HOUR_AGO}


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_validate_answers_202_with_the_count_of_valid_readings() -> None:
    assert validate_answer(body(METER)) == (202, b'{"accepted":1}')
    assert validate_answer(body([METER, VEHICLE])) == (202, b'{"accepted":2}')


def test_validate_answers_422_when_any_reading_is_refused() -> None:
    status, payload = validate_answer(body([METER, {**VEHICLE, "soc": 250}]))
    assert status == 422
    assert json.loads(payload) == {"accepted": 1, "rejected": 1}
    assert validate_answer(b"{not json")[0] == 422
    assert validate_answer(b"[]")[0] == 422


def test_ceiling_answers_202_without_looking_at_the_body() -> None:
    assert respond("ceiling", "POST", "/v1/telemetry", b"\xff garbage") == (
        202, b'{"accepted":1}')
    assert respond("ceiling", "GET", "/v1/telemetry", b"")[0] == 405
    assert respond("validate", "POST", "/elsewhere", body(METER))[0] == 404


def test_asgi_app_reads_a_body_in_parts_and_sends_its_length() -> None:
    whole = body(METER)
    messages = [{"type": "http.request", "body": whole[:10], "more_body": True},
                {"type": "http.request", "body": whole[10:], "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/telemetry"}
    asyncio.run(asgi_app("validate")(scope, receive, send))
    assert sent[0]["status"] == 202
    assert (b"content-length", b"14") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"accepted":1}'


def test_rsgi_app_answers_through_the_protocol() -> None:
    class Scope:
        method, path = "POST", "/v1/telemetry"

    class Protocol:
        answer: tuple[int, list[tuple[str, str]], bytes] | None = None

        async def __call__(self) -> bytes:
            return body([{**METER, "voltage": -1}])

        def response_bytes(self, status: int, headers: list[tuple[str, str]],
                           payload: bytes) -> None:
            self.answer = (status, headers, payload)

    protocol = Protocol()
    asyncio.run(rsgi_app("validate")(Scope(), protocol))
    assert protocol.answer == (422, [("content-type", "application/json")],
                               b'{"accepted":0,"rejected":1}')


def test_runs_cover_every_candidate_count_and_variant_and_reverse_alternates() -> None:
    runs = plan_runs(CANDIDATES, [1, 2])
    assert len(runs) == len(CANDIDATES) * 2 * 2
    assert [(r.candidate.name, r.processes, r.variant) for r in runs[:2]] == [
        ("granian-rsgi", 1, "ceiling"), ("granian-rsgi", 1, "validate")]
    assert plan_runs(CANDIDATES, [1, 2], reverse=True) == runs[::-1]


def test_every_candidate_is_started_with_the_asked_process_count() -> None:
    commands = {c.name: c.command("validate", 8123, 2) for c in CANDIDATES}
    rsgi = commands["granian-rsgi"]
    assert rsgi[rsgi.index("--workers") + 1] == "2"
    assert rsgi[-1] == "benchmarks.http_server_apps:rsgi_validate"
    assert commands["granian-asgi"][-1] == "benchmarks.http_server_apps:asgi_validate"
    uvicorn = commands["uvicorn"]
    assert uvicorn[uvicorn.index("--workers") + 1] == "2"
    assert uvicorn[uvicorn.index("--http") + 1] == "httptools"
    aiohttp = commands["aiohttp"]
    assert aiohttp[aiohttp.index("--processes") + 1] == "2"
    assert all(command[command.index("--port") + 1] == "8123" for command in commands.values())


def test_a_run_passes_only_when_every_answer_was_a_202() -> None:
    assert all_accepted({202: 10}, 0, 10)
    assert not all_accepted({202: 9, 503: 1}, 0, 10)
    assert not all_accepted({202: 10}, 1, 10)
    assert not all_accepted({}, 0, 0)


def test_cpu_per_request_in_microseconds() -> None:
    assert per_request_us(1.5, 10_000) == 150.0
    assert per_request_us(1.0, 0) is None


def result(server: str, processes: int, variant: str, rps: float,
           ok: bool = True) -> dict[str, Any]:
    return {"server": server, "processes": processes, "variant": variant, "client": "python",
            "requests_per_s": rps, "p50_ms": 4.0, "p99_ms": 9.5,
            "server_cpu_us_per_request": 90.0, "server_cores": 0.9, "client_cores": 0.4,
            "all_202": ok}


def test_best_configs_rank_validated_throughput_of_clean_runs() -> None:
    results = [result("a", 1, "validate", 5_000), result("a", 2, "validate", 7_000),
               result("b", 1, "validate", 6_000), result("c", 2, "validate", 9_000, ok=False),
               result("d", 1, "ceiling", 20_000), result("d", 1, "validate", 1_000)]
    assert best_configs(results) == [("a", 2), ("b", 1)]


def test_table_has_a_row_per_run() -> None:
    text = table([result("granian-rsgi", 2, "validate", 9_876.4)])
    assert text.splitlines()[2] == ("| granian-rsgi | 2 | validate | python | 9,876 | 4.00 "
                                    "| 9.50 | 90.0 | 0.90 | 0.40 | yes |")
