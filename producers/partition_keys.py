"""The Kafka partition key of a reading a producer publishes: its device id (README, "Readings").

Not to be confused with the API keys (processor/ops/keys.py).
"""

from __future__ import annotations

import json
from typing import Any


def device_key(reading: dict[str, Any]) -> bytes | None:
    device = reading.get("vehicleId") or reading.get("meterId")
    return device.encode() if isinstance(device, str) else None


def key_of_line(line: bytes) -> bytes | None:
    """The key of a raw NDJSON line: the device id of a single reading, else none."""
    try:
        document = json.loads(line)
    except ValueError:
        return None
    return device_key(document) if isinstance(document, dict) else None
