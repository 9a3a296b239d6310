"""The tables' changelog read back (processor/stream/tables.py ForwardTable): what a recovery
applies, on a real Faust table with its memory store, without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import faust

from processor.stream.tables import forward_table


def record(partition: int, key: str, value: dict[str, Any] | None) -> Any:
    return SimpleNamespace(key=key, value=value,
                           message=SimpleNamespace(value=b"x" if value else None,
                                                   partition=partition))


def test_a_recovery_applies_newer_values_tombstones_and_never_older_ones() -> None:
    app = faust.App("forward-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = forward_table(app, "meter_live", 8)
    at = "2026-02-10T19:0{}:00.000000+00:00".format
    table.data["M-1"] = {"ts": at(5), "voltage": 230.0}  # the writer set it
    table.apply_changelog_batch([
        record(3, "M-1", {"ts": at(4), "voltage": 1.0}),  # rebuilt from an older state
        record(5, "M-2", {"ts": at(1), "voltage": 231.0}),
        record(5, "M-2", {"ts": at(2), "voltage": 232.0}),
        record(6, "M-3", {"ts": at(1), "voltage": 233.0}),
        record(6, "M-3", None),
    ])
    assert dict(table.data) == {"M-1": {"ts": at(5), "voltage": 230.0},
                                "M-2": {"ts": at(2), "voltage": 232.0}}
    assert table.data._key_partition == {"M-2": 5}  # what Faust drops on revocation
