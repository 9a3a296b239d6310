"""Routing: where a device lives, and partition-aligned batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.copy_format import as_binary, decode_rows, encode_rows
from processor.lines import line_of
from processor.models import MeterReading, VehicleReading
from processor.routing import copy_row, partition_for, route, to_row

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
    assert sum(len(b.rows) for b in batches) == len(readings)
    assert len({(b.kind, b.partition) for b in batches}) == len(batches)
    for batch in batches:
        for row in decode_rows(batch.encode()):
            assert partition_for(str(row[0]), 8) == batch.partition
            assert str(row[0]).startswith("M-" if batch.kind == "meter" else "V-")


def test_batches_keep_arrival_order_and_respect_the_size_bound() -> None:
    readings = [m("M-1", k) for k in range(25)]
    batches = route([line_of(r) for r in readings], 8, max_rows=10)
    assert [len(b.rows) for b in batches] == [10, 10, 5]
    assert [r[1] for b in batches for r in decode_rows(b.encode())] == \
        [r.timestamp for r in readings]


def test_a_copy_row_decodes_to_the_readings_values() -> None:
    for reading in (m("M-1", 3, 0.1), v("V-1", 4),
                    VehicleReading(vehicleId="V-2", soc=1, kwhDeliveredDc=0, batteryTemp=-3,
                                   timestamp="2026-02-10T19:00:00.5+02:00")):
        assert list(decode_rows(copy_row(reading))) == [to_row(reading)]
        assert copy_row(reading) == encode_rows(reading.type, [to_row(reading)])


def test_batches_are_binary_copy_rows_that_round_trip() -> None:
    rows = [to_row(m("M-1", 0, 0.25)), to_row(m("M-1", 1, 1e-05))]
    raw = encode_rows("meter", rows)
    # field count, then each field's length and bytes: id, microseconds since 2000, float8s
    assert raw[:21] == b"\x00\x04\x00\x00\x00\x03M-1\x00\x00\x00\x08" + \
        (824_065_200_000_000).to_bytes(8, "big")
    assert list(decode_rows(raw)) == rows
    vrow = to_row(v("V-1", 0))
    assert vrow[-1] == "M-1"
    no_link = vrow[:-1] + (None,)
    assert list(decode_rows(encode_rows("vehicle", [vrow, no_link]))) == [vrow, no_link]


def test_routed_batches_of_an_older_router_in_copy_text_become_the_same_rows() -> None:
    meter_text = (b"M-1\t2026-02-10T19:00:00.000000+00:00\t0.25\t230.0\n"
                  b"M-1\t2026-02-10T19:01:00.000000+00:00\t1e-05\t230.0\n")
    rows = [to_row(m("M-1", 0, 0.25)), to_row(m("M-1", 1, 1e-05))]
    assert as_binary("meter", meter_text) == encode_rows("meter", rows)
    vehicle_text = (b"V-1\t2026-02-10T19:00:00.000000+00:00\t50.0\t1.0\t30.0\tM-1\n"
                    b"V-1\t2026-02-10T19:01:00.000000+00:00\t50.0\t1.0\t30.0\t\\N\n")
    vrows = [to_row(v("V-1", 0)), to_row(v("V-1", 1))[:-1] + (None,)]
    assert as_binary("vehicle", vehicle_text) == encode_rows("vehicle", vrows)
    binary = encode_rows("vehicle", vrows)
    assert as_binary("vehicle", binary) is binary  # the current format passes as it is
