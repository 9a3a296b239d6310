"""``python -m benchmarks [--quick] [--only SECTION,...] [--out PATH] [--against REV]``: run
the measurements, print a table against the targets and write the results as JSON; with
``--against REV``, the same sections for REV and for this checkout, interleaved in one run
(``benchmarks/against.py``)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import (
    against,
    alert_truth,
    analytics,
    backfill,
    check,
    freshness,
    http_ingest,
    live_reads,
    pipeline,
    reference,
    references,
    report,
    soak,
    web_view,
)
from benchmarks.env import Stack, log
from benchmarks.fleet_input import Input, generate, start_time
from benchmarks.sizes import DEFAULT, QUICK, Sizes
from benchmarks.stats import ratio
from processor.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("single", "faust", "batched", "naive", "copy", "reference", "freshness", "live",
            "analytics", "web", "http", "scaleout", "soak", "backfill")
GROUPS = {"pipeline": ("single", "batched"),
          "references": ("faust", "naive", "copy", "reference")}
QUICK_SKIPS = ("scaleout", "live", "reference")  # two worker start-ups do not fit in a minute
# Run only when asked (--only soak, --only backfill): ten minutes and more; five to ten.
ONLY_ASKED = ("soak", "backfill")
# With --quick these share one warmed-up worker, in this order (a worker start-up is ~6 s).
QUICK_SHARED = ("single", "batched", "freshness", "http")
# The single-reading run and the bare Faust agent make the ratio the stream core is judged by;
# the host's speed drifts by tens of percent within a minute here, so at default sizes they run
# twice each, interleaved (faust, single, faust, single), and the figures are their means.
PAIRED = ("faust", "single")
PAIR_ROUNDS = 2


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="small sizes, under a minute (scale-out only with --only)")
    groups = ", ".join(f"{name} ({'+'.join(parts)})" for name, parts in GROUPS.items())
    p.add_argument("--only", default="",
                   help=f"comma-separated sections: {', '.join(SECTIONS)}, or the groups "
                        f"{groups}")
    p.add_argument("--out", type=Path, default=None,
                   help="result file (default: results/latest.json for a full default run, "
                        "results/quick.json with --quick, results/only.json with --only or "
                        "--batched-minutes)")
    p.add_argument("--soak-minutes", type=float, default=10.0, metavar="N",
                   help="minutes of load for the chaos soak (--only soak; default 10)")
    p.add_argument("--soak-kill-every", type=float, default=60.0, metavar="S",
                   help="seconds between the soak's kills of a worker, +-20%% (default 60; "
                        "30 makes the churn runs of docs/performance.md)")
    p.add_argument("--backfill-devices", type=int, default=None, metavar="N",
                   help=f"meters, and as many vehicles, of the backlog (--only backfill; "
                        f"default {backfill.DEFAULT_DEVICES:,}, {backfill.QUICK_DEVICES:,} "
                        f"with --quick)")
    p.add_argument("--backfill-hours", type=float, default=None, metavar="H",
                   help=f"hours of readings in the backlog (default {backfill.DEFAULT_HOURS:g}, "
                        f"{backfill.QUICK_HOURS:g} with --quick)")
    p.add_argument("--backfill-env", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting for the backfill's worker, e.g. ROUTED_LAG_MAX_SECONDS=0 "
                        "(repeatable; to compare settings in alternating runs)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--against", default=None, metavar="REV",
                   help="run the sections (default: "
                        f"{','.join(against.DEFAULT_SECTIONS)}) for the git commit REV, in a "
                        "temporary worktree, and for this checkout, interleaved (REV, HEAD, "
                        "REV, HEAD), and report HEAD/REV (result: results/against.json)")
    p.add_argument("--check", action="store_true",
                   help="the guard of make bench-check: three in-run ratios at small sizes "
                        "against wide floors, under a minute; exit 1 when one is under its floor")
    p.add_argument("--rounds", type=int, default=2, metavar="N",
                   help="with --against: turns of each side (default 2)")
    p.add_argument("--batched-minutes", type=int, default=None, metavar="N",
                   help="minutes of fleet readings for the batched and scale-out runs (20,000 "
                        "readings a minute at default sizes; default 36)")
    return p.parse_args(argv)


def chosen_sections(only: str, quick: bool) -> list[str]:
    order = [*QUICK_SHARED, *(s for s in SECTIONS if s not in QUICK_SHARED)] if quick \
        else list(SECTIONS)
    if not only:
        return [s for s in order if not (quick and s in QUICK_SKIPS) and s not in ONLY_ASKED]
    wanted: set[str] = set()
    for name in (part.strip() for part in only.split(",") if part.strip()):
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in SECTIONS:
            wanted.add(name)
        else:
            raise SystemExit(f"unknown section {name!r}; choose from {', '.join(SECTIONS)} "
                             f"or {', '.join(GROUPS)}")
    return [s for s in order if s in wanted]


def plan(sections: list[str], quick: bool) -> list[str]:
    """The order the sections' measurements run in: ``sections``, with the paired ones
    interleaved ``PAIR_ROUNDS`` times where both are chosen (not with --quick)."""
    if quick or not all(name in sections for name in PAIRED):
        return list(sections)
    first = min(sections.index(name) for name in PAIRED)
    rest = [name for name in sections if name not in PAIRED]
    return rest[:first] + list(PAIRED) * PAIR_ROUNDS + rest[first:]


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeated measurements of one section as one: the last run's fields, each rate and time
    the mean of the runs, and every run under ``runs``."""
    if len(runs) == 1:
        return runs[0]
    combined = dict(runs[-1])
    for key in ("readings_per_s", "events_per_s", "seconds"):
        values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        if values:
            combined[key] = round(sum(values) / len(values), 3 if key == "seconds" else 1)
    combined["runs"] = runs
    return combined


def default_out(quick: bool, only: str, resized: bool = False) -> Path:
    if only or resized:
        return RESULTS / "only.json"
    return RESULTS / ("quick.json" if quick else "latest.json")


class Run:
    """The sections of one invocation, sharing the input and the services."""

    def __init__(self, stack: Stack, sizes: Sizes, results: dict[str, Any],
                 share: bool, soak_minutes: float = 10.0, soak_kill_every: float = 60.0,
                 backfill_run: backfill.Backfill | None = None) -> None:
        self.stack = stack
        self.soak_minutes = soak_minutes
        self.soak_kill_every = soak_kill_every
        self.backfill_run = backfill_run or backfill.Backfill()
        self.sizes = sizes
        self.results = results
        self.share = share
        self._single: Input | None = None
        self._batched: Input | None = None
        self._shared: tuple[contextlib.ExitStack, pipeline.Running] | None = None

    def shared(self) -> pipeline.Running:
        """The one warmed-up worker the quick run's pipeline sections share."""
        if self._shared is None:
            stack = contextlib.ExitStack()
            running = stack.enter_context(pipeline.running(
                self.stack, "shared", self.sizes.partitions, module=http_ingest.WORKER_MODULE))
            self._shared = (stack, running)
        return self._shared[1]

    def close_shared(self) -> None:
        if self._shared is not None:
            self._shared[0].close()
            self._shared = None

    def single_input(self) -> Input:
        if self._single is None:
            started = time.monotonic()
            self._single = generate(self.sizes.vehicles, self.sizes.single_minutes)
            log(f"input: {len(self._single.readings):,} readings of "
                f"{self.sizes.devices:,} devices ({self.sizes.single_minutes} minutes) "
                f"generated in {time.monotonic() - started:.1f}s")
        return self._single

    def batched_input(self) -> Input:
        if self._batched is None:
            started = time.monotonic()
            # after the single input's minutes, so a shared worker sees only new readings
            start = start_time() + timedelta(minutes=self.sizes.single_minutes)
            self._batched = generate(self.sizes.vehicles, self.sizes.batched_minutes, start)
            log(f"input: {len(self._batched.readings):,} readings of "
                f"{self.sizes.devices:,} devices ({self.sizes.batched_minutes} minutes) "
                f"generated in {time.monotonic() - started:.1f}s")
        return self._batched

    def single(self) -> dict[str, Any]:
        data = self.single_input()
        if self.share:
            return pipeline.timed(self.shared(), "single", data, data.single_messages()).as_dict()
        run = pipeline.measure(self.stack, "single", data, data.single_messages(),
                               self.sizes.partitions)
        return run.as_dict()

    def faust(self) -> dict[str, Any]:
        return references.faust_ceiling(self.stack, self.single_input().single_messages(),
                                        self.sizes.partitions)

    def batched(self) -> dict[str, Any]:
        data = self.batched_input()
        messages = data.batched_messages(self.sizes.batch_size)
        run = (pipeline.timed(self.shared(), "batched", data, messages) if self.share else
               pipeline.measure(self.stack, "batched", data, messages, self.sizes.partitions))
        return {**run.as_dict(), "batch_size": self.sizes.batch_size}

    def naive(self) -> dict[str, Any]:
        messages = self.single_input().single_messages(self.sizes.naive_readings)
        return references.naive(self.stack, messages, self.sizes.partitions)

    def copy(self) -> dict[str, Any]:
        return references.copy(self.stack, self.batched_input())

    def reference(self) -> dict[str, Any]:
        s = self.sizes
        return {"single": reference.measure(self.stack, "single", self.single_input(),
                                            self.single_input().single_messages(),
                                            s.partitions),
                "batched": reference.measure(self.stack, "batched", self.batched_input(),
                                             self.batched_input().batched_messages(
                                                 s.batch_size), s.partitions)}

    def freshness(self) -> dict[str, Any]:
        if self.share:
            s = self.sizes
            return freshness.measure_on(self.shared(), s.vehicles, s.freshness_rate,
                                        s.freshness_seconds)
        return freshness.measure(self.stack, self.sizes.vehicles, self.sizes.freshness_rate,
                                 self.sizes.freshness_seconds, self.sizes.partitions)

    def live(self) -> dict[str, Any]:
        s = self.sizes
        return live_reads.measure(self.stack, s.vehicles, s.freshness_rate,
                                  s.freshness_seconds, s.partitions)

    def analytics(self) -> dict[str, Any]:
        s = self.sizes
        return analytics.measure(self.stack, s.analytics_vehicles, s.analytics_days,
                                 s.analytics_requests, s.fleet_requests, s.partitions)

    def web(self) -> dict[str, Any]:
        return web_view.measure(self.stack, self.sizes.analytics_vehicles, self.sizes.partitions)

    def http(self) -> dict[str, Any]:
        s = self.sizes
        if self.share:
            return http_ingest.measure_on(self.shared(), s.vehicles, s.http_seconds,
                                          s.http_concurrency, s.http_batch_size,
                                          s.http_batch_concurrency, stack=self.stack)
        return http_ingest.measure(self.stack, s.vehicles, s.http_seconds, s.http_concurrency,
                                   s.http_batch_size, s.http_batch_concurrency, s.partitions)

    def scaleout(self) -> dict[str, Any]:
        data = self.batched_input()
        messages = data.batched_messages(self.sizes.batch_size)
        one = lookup_rate(self.results, "batched")
        if one is None:
            one = pipeline.measure(self.stack, "scaleout-1", data, messages,
                                   self.sizes.partitions).as_dict()["readings_per_s"]
        two = pipeline.measure(self.stack, "scaleout-2", data, messages, self.sizes.partitions,
                               workers=2).as_dict()
        return {"one_worker_per_s": one, "two_workers_per_s": two["readings_per_s"],
                "two_worker_ratio": ratio(two["readings_per_s"], one), "two_workers": two}


    def soak(self) -> dict[str, Any]:
        return soak.measure(self.stack, self.soak_minutes, kill_every=self.soak_kill_every)

    def backfill(self) -> dict[str, Any]:
        return self.backfill_run.measure(self.stack, self.sizes.partitions)


def lookup_rate(results: dict[str, Any], section: str) -> float | None:
    value = report.lookup(results, f"{section}.readings_per_s")
    return float(value) if value is not None else None


def derive(results: dict[str, Any]) -> None:
    """The ratios and the summary figures, from whatever sections ran."""
    single, batched = results.get("single"), results.get("batched")
    ceiling = report.lookup(results, "faust.events_per_s")
    if isinstance(single, dict) and ceiling:
        single["faust_ceiling_per_s"] = ceiling
        single["ratio_to_ceiling"] = ratio(single.get("readings_per_s"), ceiling)
    if isinstance(single, dict):
        single["ratio_to_reference"] = ratio(
            single.get("readings_per_s"),
            report.lookup(results, "reference.single.readings_per_s"))
    if isinstance(batched, dict):
        batched["cpu_us_per_reading"] = against.cpu_us_per_reading(batched)
        batched["ratio_to_reference"] = ratio(
            batched.get("readings_per_s"),
            report.lookup(results, "reference.batched.readings_per_s"))
        batched["ratio_to_naive"] = ratio(batched.get("readings_per_s"),
                                          report.lookup(results, "naive.readings_per_s"))
        batched["ratio_to_copy"] = ratio(batched.get("readings_per_s"),
                                         report.lookup(results, "copy.rows_per_s"))
    peaks: dict[str, float] = {}
    for name, section in results.items():
        found = section.get("worker_peak_rss_mb") if isinstance(section, dict) else None
        if name == "scaleout" and isinstance(section, dict):
            found = section.get("two_workers", {}).get("worker_peak_rss_mb")
        values = [v for v in (found or []) if v is not None]
        if values:
            peaks[name] = max(values)
    if peaks:
        results["worker"] = {"peak_rss_mb": max(peaks.values()), "by_section": peaks}


def backfill_run(args: argparse.Namespace) -> backfill.Backfill:
    """The backfill section's run; a scorer adds its callbacks to ``on_sample``/``on_end``."""
    quick = args.quick
    devices = args.backfill_devices or (backfill.QUICK_DEVICES if quick
                                        else backfill.DEFAULT_DEVICES)
    hours = args.backfill_hours or (backfill.QUICK_HOURS if quick else backfill.DEFAULT_HOURS)
    env = {"ALERT_INTERVAL_SECONDS": str(alert_truth.INTERVAL),
           **dict(item.split("=", 1) for item in args.backfill_env)}
    run = backfill.Backfill(devices, hours, env)
    min_charge = float(env.get("MIN_CHARGE_KWH", Settings.model_fields["min_charge_kwh"].default))
    interval = float(env["ALERT_INTERVAL_SECONDS"])
    run.on_end.append(lambda sc, result: alert_truth.score(sc, devices, min_charge, interval,
                                                           result))
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.check:
        return check.run()
    if args.against:
        chosen = args.only or ",".join(against.DEFAULT_SECTIONS)
        return against.run(args.against, chosen_sections(chosen, args.quick), args.quick,
                           args.rounds, args.out or RESULTS / "against.json")
    sizes = QUICK if args.quick else DEFAULT
    if args.batched_minutes:
        sizes = dataclasses.replace(sizes, batched_minutes=args.batched_minutes)
    sections = chosen_sections(args.only, args.quick)
    out = args.out or default_out(args.quick, args.only, resized=bool(args.batched_minutes))
    command = "python -m benchmarks" + ("" if argv is None and len(sys.argv) <= 1 else
                                        " " + shlex.join(sys.argv[1:] if argv is None else argv))
    results: dict[str, Any] = {"command": command, "quick": args.quick, "sections": sections,
                               "machine": report.machine(), "sizes": vars(sizes).copy()}
    log(f"benchmarks: {', '.join(sections)} ({'quick' if args.quick else 'default'} sizes: "
        f"{sizes.devices:,} devices); everything on this machine "
        f"({results['machine']['cpu_count']} CPUs)")
    started = time.monotonic()
    stack = Stack(keep=args.keep)
    run = Run(stack, sizes, results, share=args.quick, soak_minutes=args.soak_minutes,
              soak_kill_every=args.soak_kill_every,
              backfill_run=backfill_run(args))
    failed = []
    measured: dict[str, list[dict[str, Any]]] = {}
    try:
        for section in plan(sections, args.quick):
            if section not in QUICK_SHARED:
                run.close_shared()
            step: Callable[[], dict[str, Any]] = getattr(run, section)
            try:
                measured.setdefault(section, []).append(step())
                results[section] = combine(measured[section])
            except Exception as exc:  # one broken section must not lose the others
                traceback.print_exc()
                results[section] = {"error": f"{type(exc).__name__}: {exc}"}
                failed.append(section)
    finally:
        run.close_shared()
        stack.close()
        if args.keep:
            log(f"logs kept in {stack.root}")
    derive(results)
    results["targets"] = report.targets(results)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    report.write(out, results)
    print()
    print(report.table(results))
    print()
    log(f"done in {results['total_seconds']:.0f}s; wrote {out}")
    if failed:
        log(f"sections that failed: {', '.join(failed)} (see the errors above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
