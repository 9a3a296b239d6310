"""Routing: where a device lives, and partition-aligned batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.sink import copy_text
from processor.lines import line_of
from processor.models import MeterReading, VehicleReading
from processor.routing import (
    copy_line,
    decode_batch,
    partition_for,
    route,
    to_row,
)

# Java's org.apache.kafka.common.utils.Utils.murmur2 on these keys (Kafka's UtilsTest).
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}
T0 = datetime(2026, 2, 10, 19, tzinfo=UTC)


@pytest.mark.parametrize("key,java_hash", JAVA_MURMUR2.items())
@pytest.mark.parametrize("partitions", [1, 4, 8, 12, 100])
def test_partition_matches_kafkas_default_partitioner(key: str, java_hash: int,
                                                     partitions: int) -> None:
    assert partition_for(key, partitions) == (java_hash & 0x7FFFFFFF) % partitions


def m(mid: str, minute: int, kwh: float = 1.0) -> MeterReading:
    return MeterReading(meterId=mid, kwhConsumedAc=kwh, voltage=230,
                        timestamp=(T0 + timedelta(minutes=minute)).isoformat())


def v(vid: str, minute: int) -> VehicleReading:
    return VehicleReading(vehicleId=vid, soc=50, kwhDeliveredDc=1, batteryTemp=30,
                          timestamp=(T0 + timedelta(minutes=minute)).isoformat(), meterId="M-1")


def test_batches_hold_one_type_and_only_devices_of_their_partition() -> None:
    readings = [m(f"M-{i}", k) for i in range(50) for k in range(3)]
    readings += [v(f"V-{i}", k) for i in range(50) for k in range(3)]
    batches = route([line_of(r) for r in readings], 8, max_rows=10_000)
    assert sum(len(b.lines) for b in batches) == len(readings)
    assert len({(b.kind, b.partition) for b in batches}) == len(batches)
    for batch in batches:
        for row in decode_batch(batch.encode()):
            assert partition_for(str(row[0]), 8) == batch.partition
            assert str(row[0]).startswith("M-" if batch.kind == "meter" else "V-")


def test_batches_keep_arrival_order_and_respect_the_size_bound() -> None:
    readings = [m("M-1", k) for k in range(25)]
    batches = route([line_of(r) for r in readings], 8, max_rows=10)
    assert [len(b.lines) for b in batches] == [10, 10, 5]
    assert [r[1] for b in batches for r in decode_batch(b.encode())] == \
        [to_row(r)[1] for r in readings]


def test_copy_line_is_the_copy_text_of_the_row() -> None:
    for reading in (m("M-1", 3, 0.1), v("V-1", 4),
                    VehicleReading(vehicleId="V-2", soc=1, kwhDeliveredDc=0, batteryTemp=-3,
                                   timestamp="2026-02-10T19:00:00.5+02:00")):
        assert copy_line(reading) == copy_text([to_row(reading)])


def test_batches_are_copy_text_that_round_trips() -> None:
    rows = [to_row(m("M-1", 0, 0.25)), to_row(m("M-1", 1, 1e-05))]
    raw = copy_text(rows).encode()
    assert raw == (b"M-1\t2026-02-10T19:00:00.000000+00:00\t0.25\t230.0\n"
                   b"M-1\t2026-02-10T19:01:00.000000+00:00\t1e-05\t230.0\n")
    assert decode_batch(raw) == [tuple(str(x) for x in row) for row in rows]
    vrow = to_row(v("V-1", 0))
    assert vrow[-1] == "M-1"
    no_link = vrow[:-1] + (None,)
    assert decode_batch(copy_text([vrow, no_link]).encode())[1][-1] is None


def test_canonical_timestamps_sort_as_time() -> None:
    a = to_row(MeterReading(meterId="M", kwhConsumedAc=0, voltage=1,
                            timestamp="2026-01-01T00:00:00Z"))[1]
    b = to_row(MeterReading(meterId="M", kwhConsumedAc=0, voltage=1,
                            timestamp="2026-01-01T00:00:00.0005Z"))[1]
    assert a < b
