"""Readings as rows of PostgreSQL's binary COPY format: what routed batch messages hold.

The router encodes each valid reading once as a row of the writers' staging table
(``db/batch_writes.py``); a writer joins the messages of its batch, wraps them in ``HEADER``
and ``TRAILER`` and hands them to COPY unread. Text rows cost PostgreSQL ~0.9 us a row to
parse back (a timestamp and two or three numbers); binary rows cost it ~0.45, and packing them
costs the router less than formatting the text did (a float's shortest repr is the dear part).
See docs/performance.md, note 30.

A row is: the field count (int16), then each field as its length (int32; -1 for NULL) and its
bytes: the id as UTF-8 text, the timestamp as microseconds since 2000-01-01 UTC (int64), the
numbers as float8, all big-endian. Rows start with a zero byte (the field count's high byte);
routed batches written by versions before note 30 were COPY text, whose lines start with a
device id, and ``DeviceKind.as_binary`` (``kinds.py``) still accepts them. Each kind's row
packer is here; which columns a kind has is its record's business (``kinds.py``).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, no extension
TRAILER = struct.pack(">h", -1)

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NULL = struct.pack(">i", -1)
_FIELDS = struct.Struct(">h")
_SIZE = struct.Struct(">i")
_INT8 = struct.Struct(">q")
_FLOAT8 = struct.Struct(">d")

# The fixed-size fields after the id, each preceded by its length (8): ts and the numbers.
meter_values = struct.Struct(">iqidid").pack  # 8, ts, 8, kwhConsumedAc, 8, voltage
vehicle_values = struct.Struct(">iqididid").pack  # 8, ts, 8, soc, 8, kwhDeliveredDc, 8, temp


def micros(instant: datetime) -> int:
    """An aware instant as PostgreSQL's timestamptz counts it."""
    return (instant - PG_EPOCH) // _MICROSECOND


@lru_cache(maxsize=262_144)
def meter_head(meter_id: str) -> bytes:
    """A meter row's start: its field count and its id (a fleet repeats its ids)."""
    raw = meter_id.encode()
    return struct.pack(">hi", 4, len(raw)) + raw  # id, ts, kwhConsumedAc, voltage


@lru_cache(maxsize=262_144)
def vehicle_head(vehicle_id: str) -> bytes:
    raw = vehicle_id.encode()
    return struct.pack(">hi", 6, len(raw)) + raw  # id, ts, soc, kwh, batteryTemp, meterId


@lru_cache(maxsize=262_144)
def link_field(meter_id: str | None) -> bytes:
    """A vehicle row's last field: the meter it names, or NULL."""
    if meter_id is None:
        return _NULL
    raw = meter_id.encode()
    return struct.pack(">i", len(raw)) + raw


def meter_row(meter_id: str, ts: int, kwh: float, voltage: float) -> bytes:
    return meter_head(meter_id) + meter_values(8, ts, 8, kwh, 8, voltage)


def vehicle_row(vehicle_id: str, ts: int, soc: float, kwh: float, battery_temp: float,
                meter_id: str | None) -> bytes:
    return (vehicle_head(vehicle_id) + vehicle_values(8, ts, 8, soc, 8, kwh, 8, battery_temp)
            + link_field(meter_id))


def split_rows(data: bytes) -> list[bytes]:
    """Rows of binary COPY (without ``HEADER`` and ``TRAILER``), each as its own bytes: a
    writer splits a batch the database refused to find the rows it refuses."""
    rows = []
    start = 0
    end = len(data)
    while start < end:
        (fields,) = _FIELDS.unpack_from(data, start)
        at = start + 2
        for _ in range(fields):
            (size,) = _SIZE.unpack_from(data, at)
            at += 4 + max(size, 0)
        rows.append(data[start:at])
        start = at
    return rows


def decode_row(row: bytes, text_columns: frozenset[int]) -> list[Any]:
    """A row's values in its column order: the ``text_columns`` as str, the second column as
    the timestamp (an aware datetime), the others as floats; None for NULL."""
    (fields,) = _FIELDS.unpack_from(row, 0)
    at = 2
    values: list[Any] = []
    for column in range(fields):
        (size,) = _SIZE.unpack_from(row, at)
        at += 4
        if size < 0:
            values.append(None)
            continue
        raw = row[at:at + size]
        at += size
        if column in text_columns:
            values.append(raw.decode())
        elif column == 1:
            values.append(PG_EPOCH + _MICROSECOND * _INT8.unpack(raw)[0])
        else:
            values.append(_FLOAT8.unpack(raw)[0])
    return values


def text_lines(message: bytes, numbers: slice) -> Iterator[list[Any]]:
    """The rows of COPY text (one line a row, tab-separated, ``\\N`` for NULL), with the
    columns of ``numbers`` as floats: routed batches written before note 30."""
    for line in message.decode().splitlines():
        values: list[Any] = [None if v == r"\N" else v for v in line.split("\t")]
        values[numbers] = [float(v) for v in values[numbers]]
        yield values
