"""The fleet answer, encoded in chunks between turns of the event loop
(processor/web/efficiency.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from processor.web.efficiency import encode_fleet


@pytest.mark.parametrize("count", [0, 1, 499, 500, 1234])
def test_fleet_encoded_in_chunks_equals_one_encoding(count: int) -> None:
    at = datetime(2026, 2, 10, tzinfo=UTC)
    body = {"period": "24 hours", "threshold": 0.85, "count": count,
            "vehicles": [{"vehicleId": f"V-{i}", "efficiencyRatio": i / 1000 or None,
                          "lastSeen": at, "alert": i % 7 == 0} for i in range(count)]}
    encoded = asyncio.run(encode_fleet(body))
    assert orjson.loads(encoded) == orjson.loads(orjson.dumps(body, default=str))
