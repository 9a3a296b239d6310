"""How big each measurement is: the default run (under 10 minutes) and ``--quick`` (under 1).

The pipeline sections run 10-15 s each at default sizes: the first fetch and the last write of
a run (about half a second) and the host's moods weigh less than in the 3-5 s they ran before
(2 and 12 minutes of fleet readings).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    vehicles: int  # and as many meters: the fleet has 2 x vehicles devices
    single_minutes: int  # minutes of fleet readings sent as single-reading messages
    batched_minutes: int  # minutes of fleet readings sent as batched messages
    batch_size: int  # readings per batched message
    naive_readings: int  # the row-by-row consumer is slow: a prefix of the single input
    freshness_seconds: float
    freshness_rate: int  # readings/s, steady
    analytics_vehicles: int
    analytics_days: int
    analytics_requests: int  # performance GETs, sequential
    fleet_requests: int  # fleet GETs, sequential
    http_seconds: float  # per HTTP ingest phase
    http_concurrency: int
    http_batch_size: int
    http_batch_concurrency: int
    partitions: int = 8

    @property
    def devices(self) -> int:
        return 2 * self.vehicles


DEFAULT = Sizes(vehicles=10_000, single_minutes=6, batched_minutes=36, batch_size=500,
                naive_readings=8_000, freshness_seconds=20, freshness_rate=2_000,
                analytics_vehicles=10_000, analytics_days=7, analytics_requests=500,
                fleet_requests=6, http_seconds=10, http_concurrency=50, http_batch_size=1_000,
                http_batch_concurrency=4)

# Quick: single, batched, freshness and HTTP share one worker (see benchmarks/__main__.py).
QUICK = Sizes(vehicles=1_000, single_minutes=4, batched_minutes=20, batch_size=500,
              naive_readings=1_000, freshness_seconds=3, freshness_rate=2_000,
              analytics_vehicles=500, analytics_days=7, analytics_requests=50,
              fleet_requests=3, http_seconds=2, http_concurrency=50, http_batch_size=1_000,
              http_batch_concurrency=4)
