"""Dead-letter records: the rejected input, why it was rejected, and where it came from.

Three kinds reach ``telemetry.dlq``: input the router rejected (``dead_letter``: the original
bytes and the field errors), readings a writer found conflicting with a stored reading of the
same device and time (``conflict_letter``: the reading received and the one stored), and
readings the database refused to store (``refused_letter``: the reading and PostgreSQL's
message, e.g. a CHECK constraint an operator added).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from processor.domain.kinds import DeviceKind
from processor.domain.validation import Rejection

CONFLICT = "conflicts with stored reading"
REFUSED = "refused by the database"


def dead_letter(rejection: Rejection, topic: str, partition: int, offset: int) -> bytes:
    """The JSON value published to ``telemetry.dlq`` for one rejection."""
    try:
        original, encoding = rejection.original.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(rejection.original).decode(), "base64"
    record = {
        "reason": rejection.reason,
        "errors": [e.as_dict() for e in rejection.errors],
        "index": rejection.index,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "original": original,
        "originalEncoding": encoding,
        "rejectedAt": datetime.now(UTC).isoformat(),
    }
    return json.dumps(record, separators=(",", ":")).encode()


def original_bytes(record: dict[str, object]) -> bytes:
    """The original input of a dead-letter record, as it was received."""
    text = str(record["original"])
    return base64.b64decode(text) if record["originalEncoding"] == "base64" else text.encode()


def conflict_letter(kind: DeviceKind, row: Sequence[Any], partition: int,
                    offsets: tuple[int, int]) -> bytes:
    """The dead letter of a reading whose device and time are stored with other values.

    ``row``: (id, ts, received values..., stored values...) as ``db/batch_writes.py`` returns
    it; ``offsets``: the first and last offset of the routed batches, on the kind's topic and
    ``partition``, that the writer's batch took them from. ``original`` is the received reading
    in the producers' JSON (publish it again to overwrite nothing: the stored one stays).
    """
    names = kind.value_fields
    received, stored = row[2:2 + len(names)], row[2 + len(names):]

    def reading(values: Sequence[Any]) -> dict[str, Any]:
        return reading_of(kind, (row[0], row[1], *values))

    errors = [{"field": n, "message": f"{new!r} received, {old!r} stored"}
              for n, new, old in zip(names, received, stored, strict=True) if new != old]
    record = {
        "reason": CONFLICT,
        "errors": errors,
        "index": None,
        "source": {"topic": kind.topic, "partition": partition, "offset": offsets[0],
                   "lastOffset": offsets[1]},
        "original": json.dumps(reading(received), separators=(",", ":")),
        "originalEncoding": "utf-8",
        "stored": reading(stored),
        "rejectedAt": datetime.now(UTC).isoformat(),
    }
    return json.dumps(record, separators=(",", ":")).encode()


def reading_of(kind: DeviceKind, row: Sequence[Any]) -> dict[str, Any]:
    """A row (id, ts, values... in the kind's column order) as the producers' JSON reading."""
    names = kind.value_fields
    fields = {n: v for n, v in zip(names, row[2:], strict=True) if v is not None}
    ts = row[1].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"type": kind.name, kind.id_field: row[0], **fields, "timestamp": ts}


def refused_letter(kind: DeviceKind, row: Sequence[Any], message: str, partition: int,
                   offsets: tuple[int, int]) -> bytes:
    """The dead letter of a reading PostgreSQL refused (not a transient failure: a constraint,
    a value out of a column's range). ``row``: the reading's values as the writer staged them;
    ``message``: the database's; ``offsets`` as in ``conflict_letter``. ``original`` is the
    reading in the producers' JSON: publish it again once the database takes it."""
    first_line = message.strip().splitlines()[0] if message.strip() else message
    record = {
        "reason": REFUSED,
        "errors": [{"field": "reading", "message": first_line[:500]}],
        "index": None,
        "source": {"topic": kind.topic, "partition": partition, "offset": offsets[0],
                   "lastOffset": offsets[1]},
        "original": json.dumps(reading_of(kind, row), separators=(",", ":")),
        "originalEncoding": "utf-8",
        "database": message[:2000],
        "rejectedAt": datetime.now(UTC).isoformat(),
    }
    return json.dumps(record, separators=(",", ":")).encode()
