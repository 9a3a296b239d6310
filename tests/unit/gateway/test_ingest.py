"""The gateway's POST /v1/telemetry judges readings by the settings it was started with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from processor.domain.readings import MIN_READING_TIME, min_reading_time, set_min_reading_time
from processor.gateway.ingest import Ingest
from processor.kafka.publisher import Message, Publisher
from processor.settings import Settings


class Recorded(Publisher):
    """A publisher that acks every message at once and keeps them, with no broker."""

    def __init__(self) -> None:
        super().__init__("broker:9092", 1.0)
        self.sent: list[Message] = []

    async def publish(self, topic: str, messages: Sequence[Message]) -> list[str | None]:
        self.sent.extend(messages)
        return [None] * len(messages)


@pytest.fixture(autouse=True)
def default_floor() -> Iterator[None]:
    yield
    set_min_reading_time(MIN_READING_TIME)  # the floor is the process's: leave the default


def settings(**values: Any) -> Settings:
    """Settings from these values alone (no .env)."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def meter(i: int, timestamp: str) -> dict[str, Any]:
    return {"meterId": f"M{i}", "kwhConsumedAc": 1.5, "voltage": 230, "timestamp": timestamp}


def post(ingest: Ingest, body: Any) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()

    async def protocol() -> bytes:
        return raw

    answer = asyncio.run(ingest.answer("application/json", str(len(raw)), protocol))
    return answer.status, answer.body


def test_readings_from_year_1_and_1900_are_refused_by_default_naming_the_setting() -> None:
    publisher = Recorded()
    ingest = Ingest(settings(), publisher)
    status, body = post(ingest, [meter(1, "0001-01-01T00:00:00Z"),
                                 meter(2, "1900-01-01T00:00:00Z"),
                                 meter(3, "2026-02-10T19:00:00Z")])
    assert status == 422 and body["accepted"] == 1
    reason = "is before 2000-01-01T00:00:00Z, the earliest a reading may be (MIN_READING_TIME)"
    assert body["rejected"] == [
        {"index": 0, "errors": [{"field": "timestamp", "message": reason}]},
        {"index": 1, "errors": [{"field": "timestamp", "message": reason}]},
    ]
    assert [json.loads(value) for _key, value in publisher.sent] == [
        [meter(3, "2026-02-10T19:00:00Z")]]


def test_the_gateway_applies_min_reading_time_from_its_settings() -> None:
    floor = datetime(2020, 1, 1, tzinfo=UTC)
    publisher = Recorded()
    ingest = Ingest(settings(min_reading_time=floor), publisher)
    assert min_reading_time() == floor
    status, body = post(ingest, [meter(1, "2019-12-31T23:59:59Z"),
                                 meter(2, "2020-01-01T00:00:00Z")])
    assert status == 422 and body["accepted"] == 1
    assert body["rejected"][0]["errors"][0]["message"] == (
        "is before 2020-01-01T00:00:00Z, the earliest a reading may be (MIN_READING_TIME)")
    assert [json.loads(value) for _key, value in publisher.sent] == [
        [meter(2, "2020-01-01T00:00:00Z")]]


def test_min_reading_time_is_read_from_the_environment_with_its_zone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings().min_reading_time == MIN_READING_TIME
    monkeypatch.setenv("MIN_READING_TIME", "2010-06-01T00:00+02:00")
    assert settings().min_reading_time == datetime(2010, 5, 31, 22, tzinfo=UTC)
    monkeypatch.setenv("MIN_READING_TIME", "2010-06-01T00:00")
    with pytest.raises(ValueError, match="timezone"):
        settings()
