"""The result document (``latest.json``) and the table printed at the end of a run."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One line of the table: where its value sits in the results, and its target if any."""

    key: str  # dotted path into the results
    label: str
    unit: str
    target: str = ""  # shown as is, e.g. ">= 100,000"
    passes: Callable[[float], bool] | None = None


def at_least(threshold: float) -> Callable[[float], bool]:
    return lambda value: value >= threshold


def at_most(threshold: float) -> Callable[[float], bool]:
    return lambda value: value <= threshold


FIGURES = [
    Figure("single.readings_per_s", "end to end, single-reading messages", "readings/s"),
    Figure("single.faust_ceiling_per_s", "bare Faust agent counting (ceiling)", "events/s"),
    Figure("single.ratio_to_ceiling", "single-reading / bare Faust", "x", ">= 0.90",
           at_least(0.90)),
    Figure("batched.readings_per_s", "end to end, batched messages", "readings/s",
           ">= 100,000", at_least(100_000)),
    Figure("naive.readings_per_s", "naive consumer, row by row", "readings/s"),
    Figure("batched.ratio_to_naive", "batched / naive", "x"),
    Figure("copy.rows_per_s", "PostgreSQL COPY of the same rows (ceiling)", "rows/s"),
    Figure("batched.ratio_to_copy", "batched / COPY", "x", ">= 0.30", at_least(0.30)),
    Figure("batched.cpu_us_per_reading", "CPU per batched reading, every process", "us",
           "<= 10", at_most(10)),
    Figure("reference.single.readings_per_s", "reference: one plain consumer, single "
           "(no Faust, one hop)", "readings/s"),
    Figure("single.ratio_to_reference", "single-reading / reference", "x"),
    Figure("reference.batched.readings_per_s", "reference: one plain consumer, batched",
           "readings/s"),
    Figure("batched.ratio_to_reference", "batched / reference", "x"),
    Figure("freshness.p50_ms", "freshness p50, publish -> vehicle_live", "ms"),
    Figure("freshness.p99_ms", "freshness p99, publish -> vehicle_live", "ms", "<= 500",
           at_most(500)),
    Figure("freshness.after_ramp.p99_ms", "freshness p99, after the first 5 s", "ms"),
    Figure("live.table.p50_ms", "GET vehicles/{id}/live from the owner's table p50", "ms"),
    Figure("live.table.p99_ms", "  its p99", "ms"),
    Figure("live.forwarded.p99_ms", "  asked of the other worker (forwarded) p99", "ms"),
    Figure("live.postgresql.p99_ms", "  from PostgreSQL p99", "ms"),
    Figure("live.postgres_to_table_p99", "  PostgreSQL p99 / table p99", "x", ">= 3",
           at_least(3)),
    Figure("live.table.in_view.p99_ms", "  in the view (Server-Timing), table p99", "ms"),
    Figure("live.postgresql.in_view.p99_ms", "  in the view, PostgreSQL p99", "ms"),
    Figure("live.in_view_postgres_to_table_p99", "  in the view, PostgreSQL / table p99", "x",
           ">= 3", at_least(3)),
    Figure("live.freshness.p50_ms", "freshness p50, publish -> live endpoint", "ms"),
    Figure("live.freshness.p99_ms", "freshness p99, publish -> live endpoint", "ms", "< 500",
           at_most(500)),
    Figure("live.mismatches", "live answers differing between the three ways", "vehicles",
           "0", at_most(0)),
    Figure("analytics.p50_ms", "GET performance/{id} p50", "ms"),
    Figure("analytics.p99_ms", "GET performance/{id} p99", "ms", "<= 10", at_most(10)),
    Figure("analytics.fleet_p50_ms", "GET fleet p50", "ms"),
    Figure("analytics.fleet_p99_ms", "GET fleet p99", "ms", "<= 10", at_most(10)),
    Figure("analytics.fleet_first_ms", "GET fleet, first after start", "ms"),
    Figure("web.first_rows_cold_ms", "fleet page in Chromium: first rows, cold", "ms",
           "< 1000", at_most(1000)),
    Figure("web.first_rows_p50_ms", "fleet page in Chromium: first rows, p50", "ms",
           "< 1000", at_most(1000)),
    Figure("http.single_rps", "HTTP single-reading POSTs through the gateway, concurrency 50",
           "requests/s"),
    Figure("http.single_p99_ms", "HTTP single-reading POST p99 (gateway)", "ms", "< 25",
           at_most(25)),
    Figure("http.single_cpu_us", "gateway CPU per single POST", "us"),
    Figure("http.in_worker_rps", "the same POSTs to the worker's own route (before the gateway)",
           "requests/s"),
    Figure("http.to_in_worker", "gateway / in-worker", "x", ">= 2", at_least(2)),
    Figure("http.ceiling_rps", "the gateway's server answering 202 unread (ceiling)",
           "requests/s"),
    Figure("http.to_ceiling", "gateway / ceiling", "x", ">= 0.6", at_least(0.6)),
    Figure("http.batch_readings_per_s", "HTTP batch POSTs (gateway)", "readings/s",
           ">= 150,000", at_least(150_000)),
    Figure("http.alone_single_rps", "gateway single POSTs, workers paused (tier alone)",
           "requests/s"),
    Figure("http.alone_single_p99_ms", "  their p99", "ms", "< 25", at_most(25)),
    Figure("http.alone_to_ceiling", "  / ceiling", "x", ">= 0.6", at_least(0.6)),
    Figure("http.alone_batch_readings_per_s", "gateway batch POSTs, workers paused",
           "readings/s", ">= 150,000", at_least(150_000)),
    Figure("http.batch_p99_ms", "HTTP batch POST p99", "ms"),
    Figure("http.node.ours_rps", "HTTP single POSTs under the Node client, ours", "requests/s"),
    Figure("http.node.reference_rps", "HTTP single POSTs under the Node client, reference "
           "(Fastify + pg, buffered)", "requests/s"),
    Figure("http.node.ratio", "  ours / reference", "x", ">= 1.0", at_least(1.0)),
    Figure("http.node.ours_p99_ms", "ours p99 under Node", "ms", "< 25", lambda v: v < 25),
    Figure("http.node.ours_cpu_us_per_post", "CPU per POST under Node, all our processes", "us",
           "<= 200", at_most(200)),
    Figure("scaleout.two_workers_per_s", "end to end batched, two workers", "readings/s"),
    Figure("scaleout.two_worker_ratio", "two workers / one worker", "x", ">= 1.0",
           at_least(1.0)),
    Figure("worker.peak_rss_mb", "worker peak RSS", "MB"),
    Figure("soak.readings_acked", "soak: readings acknowledged (--only soak)", "readings"),
    Figure("soak.lost", "soak: acknowledged readings lost", "readings", "0", at_most(0)),
    Figure("soak.doubled", "soak: readings counted twice", "readings", "0", at_most(0)),
    Figure("soak.hostile_not_dead_lettered", "soak: hostile messages not dead-lettered",
           "messages", "0", at_most(0)),
    Figure("soak.kills", "soak: workers killed (SIGKILL)", "kills"),
    Figure("soak.restarts_missed", "soak: kills the worker did not come back from", "kills",
           "0", at_most(0)),
    Figure("soak.survivor_rss_growth_pct", "soak: long-lived worker RSS growth after warm-up",
           "%", "< 10", lambda v: v < 10),
    Figure("soak.max_consumer_lag", "soak: largest consumer lag", "records"),
    Figure("soak.guard_refetches", "soak: partitions the lost-record guard fetched again",
           "times", "0", at_most(0)),
    Figure("backfill.readings_per_s", "backfill: single-reading backlog end to end "
           "(--only backfill)", "readings/s"),
    Figure("backfill.seconds", "backfill: publish start to all stored", "s"),
    Figure("backfill.max_lag_seconds", "backfill: routed topics' largest lag", "s"),
    Figure("backfill.p95_lag_seconds", "backfill: routed topics' lag p95", "s"),
    Figure("backfill.max_lag_records", "backfill: routed topics' largest lag", "records"),
    Figure("backfill.longest_flat_seconds", "backfill: longest stored-count standstill while "
           "routing", "s"),
    Figure("backfill.alerts.precision", "backfill: active alerts that are faulty vehicles",
           "share", "1", at_least(1.0)),
    Figure("backfill.alerts.recall", "backfill: faulty vehicles that charged, alerted",
           "share", "1", at_least(1.0)),
    Figure("backfill.alerts.false_alert_events", "backfill: false alerts raised meanwhile",
           "events", "0", at_most(0)),
    Figure("backfill.alerts.alerted_twice", "backfill: vehicles alerted twice", "vehicles",
           "0", at_most(0)),
]


def lookup(results: dict[str, Any], key: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = results
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def status(figure: Figure, value: Any) -> str:
    if value is None:
        return "not run"
    if figure.passes is None:
        return ""
    return "pass" if figure.passes(float(value)) else "MISS"


def fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}"
    if unit in ("ms", "MB", "%", "s"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, unit, target, status) for each figure; skipped sections say why."""
    out = []
    for figure in FIGURES:
        value = lookup(results, figure.key)
        section = figure.key.split(".")[0]
        state = status(figure, value)
        skipped = lookup(results, f"{section}.skipped")
        if value is None and skipped:
            state = f"skipped: {skipped}"
        out.append((figure.label, fmt(value, figure.unit), figure.unit, figure.target, state))
    return out


def table(results: dict[str, Any]) -> str:
    lines = rows(results)
    headers = ("figure", "value", "unit", "target", "")
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(headers)]
    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in (1,) else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
    return "\n".join([line(headers), line(tuple("-" * w for w in widths)),
                      *(line(r) for r in lines)])


def markdown(results: dict[str, Any]) -> str:
    """The same table for docs/performance.md."""
    out = ["| figure | value | unit | target | |", "|---|---:|---|---|---|"]
    out.extend(f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows(results))
    return "\n".join(out)


def targets(results: dict[str, Any]) -> dict[str, str]:
    """Figure key -> pass / MISS / not run, for the figures that have a target."""
    return {f.key: status(f, lookup(results, f.key)) for f in FIGURES if f.passes}


def machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        mem_gb = None
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "memory_gb": mem_gb,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    tmp.replace(path)
