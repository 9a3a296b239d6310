"""Dead-letter records: the rejected input, why it was rejected, and where it came from."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from processor.validation import Rejection


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
