"""Turn the bytes of a raw Kafka message into valid readings and rejections.

A message holds one reading, a JSON array of readings, or ``{"type": "batch", "readings": [...]}``.
Each reading of a batch is judged on its own, so one bad reading never drops its neighbours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from processor.domain.fast_path import PLAIN, Line, earliest_ts, latest_ts, line_of
from processor.domain.kinds import KINDS
from processor.domain.readings import Reading, min_reading_time

VALIDATORS = {name: kind.model.__pydantic_validator__ for name, kind in KINDS.items()}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


INTERNAL_ERROR = "internal error"


@dataclass(frozen=True)
class Rejection:
    """Input that cannot become a reading: why, where in the message, and what it was."""

    errors: tuple[FieldError, ...]
    original: bytes
    index: int | None = None  # position in a batch; None for the message as a whole
    summary: str | None = None  # the reason, when the field errors do not make it

    @property
    def reason(self) -> str:
        if self.summary is not None:
            return self.summary
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)

    @classmethod
    def internal(cls, exc: BaseException, original: bytes, index: int | None = None,
                 where: str = "message") -> Rejection:
        """A message (or reading) that made our own code raise: a bug, not bad input. Its
        reason is ``internal error``; the exception's type and text are the error."""
        return cls((FieldError(where, describe(exc)),), original, index, INTERNAL_ERROR)


def describe(exc: BaseException) -> str:
    """``TypeError: unhashable type: 'list'``, at most 500 characters."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


@dataclass
class Outcome:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)  # the valid readings, with ``as_lines``


def reading_type(item: dict[str, Any]) -> str | None:
    """The declared type, or the one implied by the id fields when ``type`` is missing."""
    declared = item.get("type")
    if declared is not None:
        # Any JSON value may arrive here: a list or an object is not hashable.
        return declared if type(declared) is str and declared in KINDS else None
    # Inferred from the id fields; a vehicle's reading may name its meter too.
    if "vehicleId" in item:
        return "vehicle"
    if "meterId" in item:
        return "meter"
    return None


def plain_line(item: Any, earliest: int, latest: int) -> Line | None:
    """The routed line of a plainly valid reading (``processor.domain.fast_path``; ``earliest``
    and ``latest``: ``fast_path.earliest_ts`` and ``latest_ts``, the floor and the time of
    judging), or None when the models must judge it."""
    kind = reading_type(item) if type(item) is dict else None
    return PLAIN[kind](item, earliest, latest) if kind is not None else None


def validate_reading(item: Any, now: datetime | None = None,
                     earliest: datetime | None = None) -> Reading | tuple[FieldError, ...]:
    """One reading (already decoded JSON): the model, or the field errors. ``earliest``: the
    floor of its timestamp, by default this process's MIN_READING_TIME."""
    return _validate(item, {"now": now or datetime.now(UTC),
                            "earliest": min_reading_time() if earliest is None else earliest})


def _validate(item: Any, context: dict[str, Any]) -> Reading | tuple[FieldError, ...]:
    if not isinstance(item, dict):
        return (FieldError("reading", "must be a JSON object"),)
    kind = reading_type(item)
    if kind is None:
        if "type" in item:
            return (FieldError("type", "must be 'meter' or 'vehicle'"),)
        return (FieldError("type", "missing, and neither meterId nor vehicleId is present"),)
    try:
        # The core validator directly: BaseModel.model_validate's wrapper costs ~1 us a reading.
        return VALIDATORS[kind].validate_python(item, context=context)  # type: ignore
    except ValidationError as exc:
        return tuple(_field_errors(exc))
    # Anything else is a bug of ours: the callers turn it into an ``internal error`` rejection
    # (validate_message per reading, HTTP ingest per reading) and count it.


def _field_errors(exc: ValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "reading"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append(FieldError(loc, msg))
    return out


def decode_json(raw: bytes) -> Any:
    """orjson (about twice as fast); the standard library for what strict JSON refuses but
    readings may carry (NaN, huge integers), so such a value is judged as a field. Raises
    ``ValueError`` (malformed, not UTF-8, an integer of over 4,300 digits) or ``RecursionError``
    (nested too deep)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def readings_of(document: Any) -> list[Any] | None:
    """The readings a decoded message holds, or None when its shape is not one we know."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if document.get("type") == "batch":
            readings = document.get("readings")
            extra = set(document) - {"type", "readings"}
            return readings if isinstance(readings, list) and not extra else None
        return [document]
    return None


def validate_message(raw: bytes | None, now: datetime | None = None, *,
                     as_lines: bool = False, earliest: datetime | None = None) -> Outcome:
    """Judge a raw message: every reading ends up either valid or rejected with a reason.

    ``earliest`` is the floor of the readings' timestamps: by default this process's
    MIN_READING_TIME (``readings.set_min_reading_time``), as ``now`` is the clock's.
    With ``as_lines`` the valid readings are given as routed lines (``outcome.lines``, what the
    router and replay write) instead of models: a plainly valid reading becomes its line
    without a model (``processor.domain.fast_path``), the rest are judged by the models as always.
    """
    outcome = Outcome()
    if raw is None:
        outcome.rejections.append(Rejection((FieldError("message", "empty message"),), b""))
        return outcome
    try:
        document = decode_json(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        error = FieldError("message", f"not valid JSON: {exc}")
        outcome.rejections.append(Rejection((error,), raw))
        return outcome
    items = readings_of(document)
    if items is None:
        error = FieldError(
            "message",
            "must be a reading, an array of readings or {\"type\": \"batch\", \"readings\": [...]}",
        )
        outcome.rejections.append(Rejection((error,), raw))
        return outcome
    if not items:
        outcome.rejections.append(Rejection((FieldError("readings", "empty batch"),), raw))
        return outcome
    single = not isinstance(document, list) and document.get("type") != "batch"
    now = now or datetime.now(UTC)
    earliest = min_reading_time() if earliest is None else earliest
    context = {"now": now, "earliest": earliest}
    lowest, latest = (earliest_ts(earliest), latest_ts(now)) if as_lines else (0, 0)
    lines = outcome.lines
    for index, item in enumerate(items):
        try:
            if as_lines:
                line = plain_line(item, lowest, latest)
                if line is not None:
                    lines.append(line)
                    continue
            result = _validate(item, context)
            if isinstance(result, tuple):
                original = raw if single else _encode(item)
                outcome.rejections.append(Rejection(result, original,
                                                    None if single else index))
            elif as_lines:
                lines.append(line_of(result))
            else:
                outcome.readings.append(result)
        except Exception as exc:  # noqa: BLE001 - a bug of ours; the neighbours still count
            position = None if single else index
            outcome.rejections.append(Rejection.internal(
                exc, raw if single else _encode(item), position, "reading"))
    return outcome


def _encode(item: Any) -> bytes:
    try:
        return json.dumps(item, separators=(",", ":"), allow_nan=True).encode()
    except (TypeError, ValueError, RecursionError):
        return repr(item).encode()
