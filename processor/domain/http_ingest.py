"""``POST /v1/telemetry`` without a server: a body judged, cut into messages, and answered.

Pure: the gateway (processor/gateway/) and the workers' own route (processor/web/ingest.py)
both decode and validate with ``plan`` and answer with ``reply`` once the broker acked (None) or
refused each message. A request is answered only after the broker acknowledged what it accepted,
and every reading is either counted in ``accepted`` or listed in ``rejected`` with its index and
field errors: nothing is half-accepted in silence. Validation is the router's own
(processor/domain/validation.py); the router judges the readings again when it consumes them, as
it does for every producer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from processor.domain.fast_path import earliest_ts, latest_ts
from processor.domain.kinds import KINDS
from processor.domain.readings import min_reading_time
from processor.domain.validation import (
    INTERNAL_ERROR,
    FieldError,
    describe,
    plain_line,
    reading_type,
    readings_of,
    validate_reading,
)

JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class Reply:
    """Status and JSON body; for the metrics, the readings accepted and refused by type."""

    status: int
    body: dict[str, Any]
    accepted: Counter[str] = field(default_factory=Counter, compare=False)
    rejected: Counter[str] = field(default_factory=Counter, compare=False)


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
    internal_errors: int = 0  # readings the validator failed on (a bug of ours), for metrics


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
         now: datetime | None = None, earliest: datetime | None = None) -> Reply | Plan:
    """Decode and validate a request body; an error reply when no reading can be judged.
    ``earliest``: the readings' floor, by default this process's MIN_READING_TIME."""
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
    earliest = min_reading_time() if earliest is None else earliest
    lowest, latest = earliest_ts(earliest), latest_ts(now)
    result = Plan(total=len(items))
    valid: list[tuple[int, Any, str]] = []  # index, reading as sent, device id
    for index, item in enumerate(items):
        kind = reading_type(item) if isinstance(item, dict) else None
        result.types[index] = kind if kind in KINDS else "unknown"
        line = plain_line(item, lowest, latest)
        if line is not None:  # plainly valid: no model needed (processor/domain/fast_path.py)
            valid.append((index, item, line[1]))
            continue
        try:
            outcome = validate_reading(item, now, earliest)
        except Exception as exc:  # noqa: BLE001
            # The validator turns every bad value into a field error; if something slips
            # through anyway (a bug of ours), refuse the reading rather than fail the request
            # or pass a poison message to the router.
            result.internal_errors += 1
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
    # A reply counts the readings by type (Reply.accepted/.rejected) for the caller's metrics.
    if not p.rejected and all(err is None for err in delivery):  # the common case, cheaply
        return Reply(202, {"accepted": p.total}, Counter(p.types.values()))
    accepted = sorted(i for c, err in zip(p.chunks, delivery, strict=True) if err is None
                      for i in c.indices)
    failed = [(c, err) for c, err in zip(p.chunks, delivery, strict=True) if err is not None]
    taken = set(accepted)
    accepted_types = Counter(p.types[i] for i in accepted)
    rejected_types = Counter(p.types[i] for i in range(p.total) if i not in taken)
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
        return Reply(503, body, accepted_types, rejected_types)
    if p.rejected:
        n = len(p.rejected)
        return Reply(422, {
            "error": f"{n} of {p.total} readings rejected; "
                     f"the other {p.total - n} were accepted",
            "accepted": len(accepted),
            "rejected": rejected_list(p.rejected),
        }, accepted_types, rejected_types)
    return Reply(202, {"accepted": len(accepted)}, accepted_types, rejected_types)


def rejected_list(rejected: dict[int, tuple[FieldError, ...]]) -> list[dict[str, Any]]:
    return [{"index": i, "errors": [e.as_dict() for e in errors]}
            for i, errors in sorted(rejected.items())]
