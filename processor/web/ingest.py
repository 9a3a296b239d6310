"""``POST /v1/telemetry``: the seed's payloads over HTTP, published to ``telemetry.raw``.

A request is answered only after the broker acknowledged what it accepted, and every reading is
either counted in ``accepted`` or listed in ``rejected`` with its index and field errors: nothing
is half-accepted in silence. Validation is the router's own (processor/domain/validation.py); the
router judges the readings again when it consumes them, as it does for every producer.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from processor.domain.fast_path import latest_ts
from processor.domain.kinds import KINDS
from processor.domain.validation import (
    INTERNAL_ERROR,
    FieldError,
    describe,
    plain_line,
    reading_type,
    readings_of,
    validate_reading,
)
from processor.kafka import topics
from processor.stream import metrics
from processor.stream.pipeline import Pipeline
from processor.web.ingest_coalescer import Coalescer

if TYPE_CHECKING:
    from processor.web.resources import Resources

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Chunk:
    """One message to publish and the request indices of the readings it carries."""

    key: bytes | None
    value: bytes
    indices: list[int]


@dataclass
class Plan:
    """A parsed request: what to publish, and what was rejected (index -> errors)."""

    chunks: list[Chunk] = field(default_factory=list)
    rejected: dict[int, tuple[FieldError, ...]] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=dict)  # index -> claimed type, for metrics
    total: int = 0


def error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"error": message, "accepted": 0, **extra})


def media_type_error(content_type: str | None) -> Reply | None:
    """415 unless the body is declared as JSON (parameters such as charset are fine)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in JSON_TYPES:
        return None
    got = f"got {content_type!r}" if content_type else "none was sent"
    return error(415, f"Content-Type must be application/json; {got}")


def too_large(max_bytes: int, size: int | None = None) -> Reply:
    told = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes"
    return error(413, f"request body too large: {told}, at most {max_bytes} "
                      "(HTTP_MAX_BYTES); split it into several requests")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(body: bytes) -> Any:
    """orjson (several times faster on batches); the standard library decides what orjson
    refuses, so its answers stand: NaN is malformed, a huge integer is judged as a field."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body, parse_constant=_reject_constant)


def _dumps(items: list[Any]) -> bytes:
    try:
        return orjson.dumps(items)
    except TypeError:  # e.g. an integer beyond 64 bits in an otherwise valid reading
        return json.dumps(items, separators=(",", ":")).encode()


def plan(body: bytes, max_readings: int, chunk_readings: int,
         now: datetime | None = None) -> Reply | Plan:
    """Decode and validate a request body; an error reply when no reading can be judged."""
    try:
        document = _loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        return error(400, f"malformed JSON: {exc}")
    items = readings_of(document)
    if items is None:
        return error(422, "the body must be a reading, a JSON array of readings or "
                          "{\"type\": \"batch\", \"readings\": [...]}",
                     errors=[FieldError("body", "not a reading or an array of readings")
                             .as_dict()])
    if not items:
        return error(422, "no readings: the array is empty",
                     errors=[FieldError("body", "empty array").as_dict()])
    if len(items) > max_readings:
        return error(413, f"{len(items)} readings in one request, at most {max_readings} "
                          "(HTTP_MAX_READINGS); split it into several requests")
    now = now or datetime.now(UTC)
    latest = latest_ts(now)
    result = Plan(total=len(items))
    valid: list[tuple[int, Any, str]] = []  # index, reading as sent, device id
    for index, item in enumerate(items):
        kind = reading_type(item) if isinstance(item, dict) else None
        result.types[index] = kind if kind in KINDS else "unknown"
        line = plain_line(item, latest)
        if line is not None:  # plainly valid: no model needed (processor/domain/fast_path.py)
            valid.append((index, item, line[1]))
            continue
        try:
            outcome = validate_reading(item, now)
        except Exception as exc:  # noqa: BLE001
            # The validator turns every bad value into a field error; if something slips
            # through anyway (a bug of ours), refuse the reading rather than fail the request
            # or pass a poison message to the router.
            metrics.internal_error("http")
            outcome = (FieldError("reading", f"{INTERNAL_ERROR}: {describe(exc)}"),)
        if isinstance(outcome, tuple):
            result.rejected[index] = outcome
        else:
            valid.append((index, item, outcome.device_id))
    single = isinstance(document, dict) and document.get("type") != "batch"
    if single and valid:
        # One reading: published exactly as sent, keyed by its device like any producer's.
        result.chunks.append(Chunk(valid[0][2].encode(), body, [0]))
        return result
    for start in range(0, len(valid), chunk_readings):
        part = valid[start:start + chunk_readings]
        value = _dumps([item for _, item, _ in part])
        result.chunks.append(Chunk(None, value, [index for index, _, _ in part]))
    return result


def reply(p: Plan, delivery: list[str | None], broker: str) -> Reply:
    """The answer once the broker acked (None) or failed (an error) each chunk."""
    if not p.rejected and all(err is None for err in delivery):  # the common case, cheaply
        metrics.http_readings(Counter(p.types.values()), {})
        return Reply(202, {"accepted": p.total})
    accepted = sorted(i for c, err in zip(p.chunks, delivery, strict=True) if err is None
                      for i in c.indices)
    failed = [(c, err) for c, err in zip(p.chunks, delivery, strict=True) if err is not None]
    taken = set(accepted)
    accepted_types = Counter(p.types[i] for i in accepted)
    rejected_types = Counter(p.types[i] for i in range(p.total) if i not in taken)
    metrics.http_readings(accepted_types, rejected_types)
    if failed:
        reason = failed[0][1]
        body: dict[str, Any] = {
            "error": f"the Kafka broker at {broker} did not acknowledge the readings "
                     f"({reason}); they were not accepted, retry later",
            "accepted": len(accepted),
        }
        if accepted:  # some chunks made it: say exactly which readings did not
            lost = {i: (FieldError("reading", f"not acknowledged by the broker: {err}"),)
                    for c, err in failed for i in c.indices}
            body["rejected"] = rejected_list({**p.rejected, **lost})
        return Reply(503, body)
    if p.rejected:
        n = len(p.rejected)
        return Reply(422, {
            "error": f"{n} of {p.total} readings rejected; "
                     f"the other {p.total - n} were accepted",
            "accepted": len(accepted),
            "rejected": rejected_list(p.rejected),
        })
    return Reply(202, {"accepted": len(accepted)})


def rejected_list(rejected: dict[int, tuple[FieldError, ...]]) -> list[dict[str, Any]]:
    return [{"index": i, "errors": [e.as_dict() for e in errors]}
            for i, errors in sorted(rejected.items())]


async def read_limited(request: web.Request, max_bytes: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``max_bytes`` (without buffering the rest)."""
    content = request.content
    parts: list[bytes] = []
    size = 0
    while True:
        part = await content.readany()
        if not part:
            return b"".join(parts)
        size += len(part)
        if size > max_bytes:
            return None
        parts.append(part)


def register(p: Pipeline, res: Resources) -> None:
    settings = p.settings
    coalescer = Coalescer(res.publisher, topics.RAW, settings.http_chunk_readings)

    async def ingest(request: web.Request) -> Reply:
        bad_type = media_type_error(request.headers.get("Content-Type"))
        if bad_type:
            return bad_type
        length = request.content_length
        if length is not None and length > settings.http_max_bytes:
            return too_large(settings.http_max_bytes, length)
        body = await read_limited(request, settings.http_max_bytes)
        if body is None:
            return too_large(settings.http_max_bytes)
        try:
            parsed = plan(body, settings.http_max_readings, settings.http_chunk_readings)
        except Exception as exc:  # noqa: BLE001 - a bug of ours; the client gets a clear 4xx
            metrics.internal_error("http")
            log.exception("POST /v1/telemetry: the body could not be judged")
            return error(422, f"the body could not be judged ({INTERNAL_ERROR}: "
                              f"{describe(exc)}); nothing was accepted",
                         errors=[FieldError("body", INTERNAL_ERROR).as_dict()])
        if isinstance(parsed, Reply):
            return parsed
        if len(parsed.chunks) == 1 and parsed.chunks[0].key is not None:  # one reading
            delivery = [await coalescer.publish(parsed.chunks[0].key, parsed.chunks[0].value)]
        else:
            delivery = await res.publisher.publish(
                topics.RAW, [(c.key, c.value) for c in parsed.chunks])
        return reply(parsed, delivery, res.bootstrap)

    async def post_telemetry(request: web.Request) -> web.Response:
        answer = await ingest(request)
        return web.Response(body=orjson.dumps(answer.body), status=answer.status,
                            content_type="application/json", charset="utf-8")

    # A plain aiohttp route on Faust's web server rather than a Faust View: the busiest endpoint
    # skips Faust's view dispatch and web sensors (single POSTs 8.1-8.5k -> 9.5-9.7k/s).
    p.app.web.web_app.router.add_post("/v1/telemetry", post_telemetry)  # type: ignore[attr-defined]
