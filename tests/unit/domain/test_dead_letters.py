"""Dead-letter records carry the original bytes, the reason and the source position."""

from __future__ import annotations

import json

from processor.domain.dead_letters import dead_letter, original_bytes
from processor.domain.validation import validate_message


def test_record_has_reason_errors_source_and_original_text() -> None:
    raw = b'{"meterId": "M1", "kwhConsumedAc": -1, "voltage": 230, "timestamp": "x"}'
    rejection = validate_message(raw).rejections[0]
    record = json.loads(dead_letter(rejection, "telemetry.raw", 3, 42))
    assert record["source"] == {"topic": "telemetry.raw", "partition": 3, "offset": 42}
    assert {e["field"] for e in record["errors"]} == {"kwhConsumedAc", "timestamp"}
    assert "kwhConsumedAc:" in record["reason"]
    assert record["index"] is None
    assert original_bytes(record) == raw


def test_binary_input_is_kept_exactly_in_base64() -> None:
    raw = b"\x00\xff\xfe binary"
    record = json.loads(dead_letter(validate_message(raw).rejections[0], "t", 0, 0))
    assert record["originalEncoding"] == "base64"
    assert original_bytes(record) == raw
