"""Where a device lives, and how valid readings become partition-aligned batches.

Every client must agree on a device's partition: Faust (aiokafka) and Java clients hash keys with
murmur2, so the router does too, and confluent-kafka producers set ``murmur2_random``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of a key (``Utils.murmur2`` of the Java client), as an unsigned
    32-bit value. Cached per device by ``partition_for``, so its speed does not matter."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    whole = length - length % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length % 4
    if rest == 3:
        h ^= data[whole + 2] << 16
    if rest >= 2:
        h ^= data[whole + 1] << 8
    if rest >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


@lru_cache(maxsize=262_144)
def partition_for(device_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for this key."""
    return (murmur2(device_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True)
class RoutedBatch:
    kind: str  # "meter" or "vehicle"
    partition: int
    rows: list[bytes]  # binary COPY rows, one a reading

    def encode(self) -> bytes:
        """The batch message: the readings as rows of PostgreSQL's binary COPY format. The
        topic says the type; writers hand the bytes to COPY as they are, with no decoding
        (JSON here cost more than all of the writer's own work, see docs/performance.md)."""
        return b"".join(self.rows)


def route(lines: list[tuple[str, str, bytes]], partitions: int,
          max_rows: int) -> list[RoutedBatch]:
    """Group routed lines (type, device id, COPY row; ``fast_path.py``) by type and owning
    partition, in arrival order, at most max_rows a batch."""
    groups: dict[tuple[str, int], list[bytes]] = {}
    for kind, device, row in lines:
        key = (kind, partition_for(device, partitions))
        group = groups.get(key)
        if group is None:
            groups[key] = [row]
        else:
            group.append(row)
    batches = []
    for (kind, partition), rows in groups.items():
        for start in range(0, len(rows), max_rows):
            batches.append(RoutedBatch(kind, partition, rows[start:start + max_rows]))
    return batches
