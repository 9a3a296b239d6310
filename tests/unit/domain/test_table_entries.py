"""What the Faust tables take from a written batch (processor/domain/table_entries.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from processor.domain.kinds import METER, VEHICLE
from processor.domain.partitioning import partition_for
from processor.domain.table_entries import (
    expired_keys,
    hour_entries,
    hour_key,
    key_hour,
    live_entries,
    newer,
)

T0 = datetime(2026, 2, 10, 19, 0, tzinfo=UTC)


def test_hourly_window_keys_round_trip_and_expire() -> None:
    key = hour_key("V-1|x", T0)
    assert key == "V-1|x|2026-02-10T19:00Z"
    assert key_hour(key) == ("V-1|x", T0)
    old = hour_key("V-1", T0 - timedelta(hours=49))
    assert expired_keys([key, old], T0 - timedelta(hours=48)) == [old]


def test_restated_hours_are_recorded_only_where_the_table_differs() -> None:
    data: dict[str, Any] = {}
    rows = [("V-1", T0, 1.5, 30.0, 2, 2), ("V-2", T0, 0.5, 20.0, 1, 1)]
    first = list(hour_entries(VEHICLE, rows, data, 8))
    assert [key for _, key, _ in first] == [hour_key("V-1", T0), hour_key("V-2", T0)]
    data.update({key: value for _, key, value in first})
    restated = [rows[0], ("V-2", T0, 0.75, 40.0, 2, 2),  # V-2 gained a reading the table lacks
                ("V-3", T0 - timedelta(hours=49), 1.0, 10.0, 1, 1)]  # outside the window
    again = list(hour_entries(VEHICLE, restated, data, 8, T0 - timedelta(hours=48)))
    assert [(key, value["readings"]) for _, key, value in again] == [(hour_key("V-2", T0), 2)]


def test_table_values_are_the_returned_rows_under_the_readings_names() -> None:
    at, changed = T0 + timedelta(minutes=3), T0 + timedelta(minutes=4, microseconds=5)
    assert METER.live_value(("M-1", at, 0.5, 230.0, changed)) == {
        "ts": "2026-02-10T19:03:00.000000+00:00", "kwhConsumedAc": 0.5, "voltage": 230.0,
        "updatedAt": "2026-02-10T19:04:00.000005+00:00"}
    assert VEHICLE.live_value(("V-1", at, 50.0, 1.5, 30.0, None, changed)) == {
        "ts": "2026-02-10T19:03:00.000000+00:00", "soc": 50.0, "kwhDeliveredDc": 1.5,
        "batteryTemp": 30.0, "meterId": None, "updatedAt": "2026-02-10T19:04:00.000005+00:00"}
    assert METER.hour_value(("M-1", T0, 1.5, 3)) == {"kwhConsumedAc": 1.5, "readings": 3}
    assert VEHICLE.hour_value(("V-1", T0, 1.5, 60.0, 2, 3)) == {
        "kwhDeliveredDc": 1.5, "batteryTempSum": 60.0, "batteryTempCount": 2, "readings": 3}


def test_live_entries_skip_rows_not_newer_than_the_table() -> None:
    table = {"M-1": METER.live_value(("M-1", T0 + timedelta(minutes=5), 1.0, 230.0, T0))}
    rows = [("M-1", T0 + timedelta(minutes=5), 9.0, 231.0, T0),  # the same minute: not newer
            ("M-2", T0, 2.0, 229.0, T0),  # not in the table yet
            ("M-3", T0 + timedelta(minutes=1), 3.0, 228.0, T0)]
    entries = list(live_entries(METER, rows, table, 8))
    assert [(key, value["kwhConsumedAc"]) for _, key, value in entries] == [("M-2", 2.0),
                                                                          ("M-3", 3.0)]
    assert [partition for partition, _, _ in entries] == [partition_for("M-2", 8),
                                                          partition_for("M-3", 8)]


def test_only_a_strictly_newer_reading_replaces_live_state() -> None:
    t1, t2 = "2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:01:00.000000+00:00"
    assert newer(t1, None)
    assert newer(t2, t1)
    assert not newer(t1, t2)
    assert not newer(t1, t1)


def test_a_changelog_record_never_takes_a_table_back_in_time() -> None:
    from processor.domain.table_entries import supersedes

    live = {"ts": "2026-02-10T19:05:00.000000+00:00", "kwhConsumedAc": 1.0}
    older = {**live, "ts": "2026-02-10T19:04:00.000000+00:00", "kwhConsumedAc": 9.0}
    newer_live = {**live, "ts": "2026-02-10T19:06:00.000000+00:00"}
    assert supersedes(live, None)
    assert supersedes(newer_live, live) and supersedes(live, live)
    assert not supersedes(older, live)
    hour = {"kwhConsumedAc": 2.0, "readings": 3}
    assert supersedes({"kwhConsumedAc": 2.5, "readings": 4}, hour)
    assert not supersedes({"kwhConsumedAc": 1.0, "readings": 2}, hour)
    assert supersedes(None, hour)  # a tombstone (an expired hour) always applies
