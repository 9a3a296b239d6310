"""Routing: where a device lives, and partition-aligned batches."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from processor.domain.copy_rows import PG_EPOCH
from processor.domain.fast_path import line_of
from processor.domain.kinds import KINDS, METER, VEHICLE, reading_row
from processor.domain.partitioning import murmur2, partition_for, route
from processor.domain.readings import MeterReading, VehicleReading

to_row = reading_row


def decode_rows(data: bytes, kind: str = "vehicle") -> list[tuple[object, ...]]:
    """Binary COPY rows back to values (id, ts as a UTC datetime, values...): what
    PostgreSQL reads from them, written out for the test."""
    return list(decode(data, KINDS[kind].text_columns))


def decode(data: bytes, text_columns: frozenset[int]) -> Iterator[tuple[Any, ...]]:
    """Text where ``text_columns`` says, the timestamp (column 1) as a UTC datetime, numbers
    as floats, NULL as None."""
    at = 0
    while at < len(data):
        (count,) = struct.unpack_from(">h", data, at)
        at += 2
        fields: list[Any] = []
        for column in range(count):
            (size,) = struct.unpack_from(">i", data, at)
            at += 4
            if size < 0:
                fields.append(None)
                continue
            value = data[at:at + size]
            at += size
            if column in text_columns:
                fields.append(value.decode())
            elif column == 1:
                fields.append(PG_EPOCH + timedelta(microseconds=struct.unpack(">q", value)[0]))
            else:
                fields.append(struct.unpack(">d", value)[0])
        yield tuple(fields)



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


@given(st.binary(max_size=80))
def test_our_murmur2_is_aiokafkas(key: bytes) -> None:
    """The domain computes partitions without a Kafka client; Faust's own hash agrees."""
    assert murmur2(key) & 0x7FFFFFFF == aiokafka_murmur2(key) & 0x7FFFFFFF


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
        for row in decode_rows(batch.encode(), batch.kind):
            assert partition_for(str(row[0]), 8) == batch.partition
            assert str(row[0]).startswith("M-" if batch.kind == "meter" else "V-")


def test_batches_keep_arrival_order_and_respect_the_size_bound() -> None:
    readings = [m("M-1", k) for k in range(25)]
    batches = route([line_of(r) for r in readings], 8, max_rows=10)
    assert [len(b.rows) for b in batches] == [10, 10, 5]
    assert [r[1] for b in batches for r in decode_rows(b.encode(), "meter")] == \
        [r.timestamp for r in readings]


def test_a_copy_row_decodes_to_the_readings_values() -> None:
    for reading in (m("M-1", 3, 0.1), v("V-1", 4),
                    VehicleReading(vehicleId="V-2", soc=1, kwhDeliveredDc=0, batteryTemp=-3,
                                   timestamp="2026-02-10T19:00:00.5+02:00")):
        row = line_of(reading)[2]
        assert decode_rows(row, reading.type) == [to_row(reading)]
        assert row == KINDS[reading.type].encode_rows([to_row(reading)])


def test_batches_are_binary_copy_rows_that_round_trip() -> None:
    rows = [to_row(m("M-1", 0, 0.25)), to_row(m("M-1", 1, 1e-05))]
    raw = METER.encode_rows(rows)
    # field count, then each field's length and bytes: id, microseconds since 2000, float8s
    assert raw[:21] == b"\x00\x04\x00\x00\x00\x03M-1\x00\x00\x00\x08" + \
        (824_065_200_000_000).to_bytes(8, "big")
    assert decode_rows(raw, "meter") == rows
    vrow = to_row(v("V-1", 0))
    assert vrow[-1] == "M-1"
    no_link = vrow[:-1] + (None,)
    assert decode_rows(VEHICLE.encode_rows([vrow, no_link])) == [vrow, no_link]


def test_routed_batches_of_an_older_router_in_copy_text_become_the_same_rows() -> None:
    meter_text = (b"M-1\t2026-02-10T19:00:00.000000+00:00\t0.25\t230.0\n"
                  b"M-1\t2026-02-10T19:01:00.000000+00:00\t1e-05\t230.0\n")
    rows = [to_row(m("M-1", 0, 0.25)), to_row(m("M-1", 1, 1e-05))]
    assert METER.as_binary(meter_text) == METER.encode_rows(rows)
    vehicle_text = (b"V-1\t2026-02-10T19:00:00.000000+00:00\t50.0\t1.0\t30.0\tM-1\n"
                    b"V-1\t2026-02-10T19:01:00.000000+00:00\t50.0\t1.0\t30.0\t\\N\n")
    vrows = [to_row(v("V-1", 0)), to_row(v("V-1", 1))[:-1] + (None,)]
    assert VEHICLE.as_binary(vehicle_text) == VEHICLE.encode_rows(vrows)
    binary = VEHICLE.encode_rows(vrows)
    assert VEHICLE.as_binary(binary) is binary  # the current format passes as it is
