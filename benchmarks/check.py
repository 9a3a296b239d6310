"""``make bench-check`` (``python -m benchmarks --check``): a guard against a slowdown of the
stream core, in under a minute, run by CI after the tests.

It measures, at small sizes and on one shared, warmed-up worker, the three ratios the core is
judged by, each within this one run (absolute figures drift with the host by 2x from day to
day, the ratios far less):

- single-reading messages end to end, against a bare Faust agent that only counts them;
- batched messages end to end, against PostgreSQL's COPY of the same rows;
- freshness p99, publish to ``vehicle_live``, at a steady 2,000 readings/s.

Each has a wide floor (``FLOORS``): a benchmark, not a timed test. A run that misses one is
measured once more, and the second run decides (``run``). The floors were set so that
the code before the fix of the changelog read-back (ce4d6f5) fails and the code after it passes
ten runs out of ten, on a 2-core VM with other work beside it (2026-12-07, docs/performance.md,
"The guard"): ce4d6f5 failed 3 runs of 3 on freshness (p99 779, 1,848, 1,687 ms; the worker
fetched back its own changelogs, and the backlog grew over the 15 s); the fix passed 10 of 10
(freshness p99 275-410 ms, single/Faust 0.52-1.30, batched/COPY 0.16-0.29). At these sizes the
single and batched ratios are noisy, and did not tell the two apart: their floors catch only a
collapse. The freshness run is 15 s because the read-back's cost piles up: at 4 s ce4d6f5 gave
423 ms, at 12 s 617-792.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from benchmarks import freshness, pipeline, references
from benchmarks.env import Stack, log
from benchmarks.fleet_input import generate, start_time
from benchmarks.stats import ratio


@dataclass(frozen=True)
class Floor:
    key: str
    label: str
    limit: float
    higher_is_better: bool = True

    def passes(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.limit if self.higher_is_better else value <= self.limit


FLOORS = (
    Floor("single_to_faust", "single-reading messages / bare Faust agent", 0.40),
    Floor("batched_to_copy", "batched messages / PostgreSQL COPY", 0.10),
    Floor("freshness_p99_ms", "freshness p99, publish -> vehicle_live (ms)", 550.0,
          higher_is_better=False),
)

VEHICLES = 1_000  # and as many meters
SINGLE_MINUTES = 8  # 16,000 single-reading messages
BATCHED_MINUTES = 60  # 120,000 readings in messages of 500
FRESHNESS_RATE = 2_000
FRESHNESS_SECONDS = 15.0
PARTITIONS = 8


def measure(stack: Stack) -> dict[str, Any]:
    single = generate(VEHICLES, SINGLE_MINUTES, start_time(hours_ago=30))
    batched = generate(VEHICLES, BATCHED_MINUTES, start_time(hours_ago=28))
    out: dict[str, Any] = {}
    out["faust"] = references.faust_ceiling(stack, single.single_messages(), PARTITIONS)
    with pipeline.running(stack, "check", PARTITIONS) as r:
        out["single"] = pipeline.timed(r, "single", single, single.single_messages()).as_dict()
        out["batched"] = pipeline.timed(r, "batched", batched,
                                        batched.batched_messages(500)).as_dict()
        out["freshness"] = freshness.measure_on(r, VEHICLES, FRESHNESS_RATE,
                                                FRESHNESS_SECONDS)
    out["copy"] = references.copy(stack, batched)
    out["single_to_faust"] = ratio(out["single"]["readings_per_s"],
                                   out["faust"]["events_per_s"])
    out["batched_to_copy"] = ratio(out["batched"]["readings_per_s"], out["copy"]["rows_per_s"])
    out["freshness_p99_ms"] = out["freshness"].get("p99_ms")
    return out


def passes(found: dict[str, Any]) -> bool:
    """Every floor met by one run's figures."""
    return all(floor.passes(found.get(floor.key)) for floor in FLOORS)


def report(found: dict[str, Any]) -> None:
    for floor in FLOORS:
        value = found.get(floor.key)
        sign = ">=" if floor.higher_is_better else "<="
        shown = "-" if value is None else f"{value:,.2f}"
        log(f"bench-check: {floor.label}: {shown} "
            f"({'pass' if floor.passes(value) else 'FAIL'}: floor {sign} {floor.limit:g})")


def measured() -> dict[str, Any]:
    stack = Stack()
    try:
        return measure(stack)
    finally:
        stack.close()


def run() -> int:
    """One run; a run that misses a floor is measured once more, and the second decides. One
    run's freshness p99 moves by up to 2x with the host (2026-12-07 evening: 596 and 618 ms in
    2 runs of 9 at one commit, 283-349 in the others); the slowdown this guards against failed
    every run (ce4d6f5: 779, 1,848, 1,687 ms), so it fails both."""
    started = time.monotonic()
    found = measured()
    report(found)
    if not passes(found):
        log("bench-check: a floor missed; measuring once more, and the second run decides")
        found = measured()
        report(found)
    passed = passes(found)
    summary = ", ".join(f"{f.key} {found.get(f.key)}" for f in FLOORS)
    print(f"bench-check: {'pass' if passed else 'FAIL'} in {time.monotonic() - started:.0f}s "
          f"({summary})", flush=True)
    return 0 if passed else 1
