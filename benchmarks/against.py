"""``python -m benchmarks --against REV``: this checkout against an earlier commit, in one run.

Absolute figures drift with the host by 2x from day to day; ratios within one run do not. So
the chosen sections run for REV and for this checkout (its working tree, as it is),
interleaved: REV, HEAD, REV, HEAD. Each turn is a whole ``python -m benchmarks --only ...`` in
a process of its own, with worker subprocesses of its own. Both sides are measured by this
checkout's harness, with the same sizes and the same method: REV's product code (processor/,
db/, producers/) is checked out in a temporary git worktree and laid beside this harness in an
overlay folder, where REV's turns run (``BENCH_PRODUCT_ROOT``). A section that REV's code
cannot run (one that measures something REV lacks) is reported as missing for REV. When this
harness cannot import REV's code at all (a commit from before the packages took their present
shape), REV's turns run REV's own harness in its worktree, with its own sizes: the report says
so, and then only the ratios within a turn compare. The report gives each figure for every
turn, the mean of each side and HEAD/REV.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.env import log
from benchmarks.report import lookup

ROOT = Path(__file__).resolve().parent.parent

# The sections compared when --only is not given: the stream core's figures.
DEFAULT_SECTIONS = ("single", "faust", "batched", "copy", "freshness", "reference")


@dataclass(frozen=True)
class Compared:
    """A figure of the comparison: where it sits in a result file, and which way is better."""

    key: str
    label: str
    unit: str
    higher_is_better: bool = True


COMPARED = [
    Compared("single.readings_per_s", "single-reading messages", "readings/s"),
    Compared("faust.events_per_s", "bare Faust agent counting", "events/s"),
    Compared("single.ratio_to_ceiling", "single / bare Faust", "x"),
    Compared("batched.readings_per_s", "batched messages", "readings/s"),
    Compared("copy.rows_per_s", "PostgreSQL COPY", "rows/s"),
    Compared("batched.ratio_to_copy", "batched / COPY", "x"),
    Compared("batched.cpu_us_per_reading", "CPU per batched reading, every process", "us",
             higher_is_better=False),
    Compared("freshness.p50_ms", "freshness p50 -> vehicle_live", "ms", higher_is_better=False),
    Compared("freshness.p99_ms", "freshness p99 -> vehicle_live", "ms", higher_is_better=False),
    Compared("live.freshness.p99_ms", "freshness p99 -> live endpoint", "ms",
             higher_is_better=False),
    Compared("reference.single.readings_per_s", "reference consumer, single", "readings/s"),
    Compared("reference.batched.readings_per_s", "reference consumer, batched", "readings/s"),
    Compared("single.ratio_to_reference", "single / reference", "x"),
    Compared("batched.ratio_to_reference", "batched / reference", "x"),
    Compared("scaleout.two_worker_ratio", "two workers / one", "x"),
    Compared("http.single_rps", "HTTP single POSTs (gateway)", "requests/s"),
    Compared("http.batch_readings_per_s", "HTTP batch POSTs", "readings/s"),
    Compared("naive.readings_per_s", "naive consumer", "readings/s"),
]


def cpu_us_per_reading(section: Any) -> float | None:
    """CPU microseconds per reading of a pipeline section, every measured process together
    (workers, PostgreSQL, broker; the harness's publisher left out)."""
    if not isinstance(section, dict):
        return None
    cpu, readings = section.get("cpu_seconds"), section.get("readings")
    if not isinstance(cpu, dict) or not readings:
        return None
    spent = sum(v for k, v in cpu.items() if k != "harness" and isinstance(v, int | float))
    return round(spent / readings * 1e6, 2)


def figure(results: dict[str, Any], key: str) -> float | None:
    if key == "batched.cpu_us_per_reading":  # derived here too: older harnesses lack it
        value = lookup(results, key)
        return float(value) if value is not None else cpu_us_per_reading(results.get("batched"))
    value = lookup(results, key)
    return float(value) if isinstance(value, int | float) else None


def resolve(rev: str) -> str:
    out = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"--against: {rev!r} is not a commit of this repository "
                         f"({out.stderr.strip()})")
    return out.stdout.strip()


def describe(tree: Path) -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%h %cs %s"], cwd=tree,
                         capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=tree,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip()[:90] + (" (+ uncommitted changes)" if dirty else "")


PRODUCT = ("processor", "db", "producers")
# Imported at start by every Python process of a REV turn (the overlay is on its path): the
# editable install of this checkout would otherwise hand out this checkout's module for any
# module REV's packages lack, and REV would run partly on today's code.
NO_EDITABLE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path
                    if "Editable" not in getattr(f, "__name__", type(f).__name__)]
"""


@contextlib.contextmanager
def overlay(sha: str) -> Iterator[tuple[Path, Path]]:
    """REV checked out in a temporary worktree, and an overlay folder holding this harness and
    REV's product packages; both removed afterwards. Yields (worktree, overlay)."""
    parent = Path(tempfile.mkdtemp(prefix="energy-against-"))
    tree = parent / sha[:10]
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), sha], cwd=ROOT,
                   check=True)
    lay = parent / "overlay"
    lay.mkdir()
    (lay / "benchmarks").symlink_to(ROOT / "benchmarks")
    for package in PRODUCT:
        (lay / package).symlink_to(tree / package)
    for root in (lay, tree):
        (root / "sitecustomize.py").write_text(NO_EDITABLE)
    try:
        yield tree, lay
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                       capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)


def harness_loads(root: Path) -> str | None:
    """None when the harness in ``root`` imports the product code there; else the error."""
    out = subprocess.run([sys.executable, "-c", "import benchmarks.__main__"], cwd=root,
                         env=tree_env(root), capture_output=True, text=True)
    return None if out.returncode == 0 else (out.stderr.strip().splitlines() or ["?"])[-1]


def known_sections(root: Path) -> tuple[str, ...]:
    """The sections the harness in ``root`` knows."""
    out = subprocess.run([sys.executable, "-c", "import benchmarks.__main__ as m; "
                          "print(','.join(m.SECTIONS))"], cwd=root, env=tree_env(root),
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"--against: the harness in {root} does not load:\n{out.stderr}")
    return tuple(out.stdout.strip().split(","))


def tree_env(root: Path) -> dict[str, str]:
    """Processes of the turn, and their subprocesses, import the product from ``root`` (the
    folder they run in comes first on the path, before the editable install of this
    checkout)."""
    return {**os.environ, "PYTHONPATH": str(root), "BENCH_PRODUCT_ROOT": str(root),
            "PYTHONDONTWRITEBYTECODE": "1"}


def run_turn(tree: Path, side: str, turn: int, sections: list[str], quick: bool,
             out: Path) -> dict[str, Any]:
    """One whole benchmark run in ``tree`` (this checkout, or REV's overlay); its output goes
    through, each line prefixed."""
    command = [sys.executable, "-m", "benchmarks", "--only", ",".join(sections),
               "--out", str(out), *(["--quick"] if quick else [])]
    log(f"against: turn {turn} {side}: {' '.join(command[1:])} in {tree}")
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=tree, env=tree_env(tree), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  {side}{turn} | {line}", end="", flush=True)
    code = proc.wait()
    log(f"against: turn {turn} {side} ended ({code}) in {time.monotonic() - started:.0f}s")
    try:
        results: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        results = {"error": f"exit {code}, no result file"}
    return results


def mean(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.fmean(found) if found else None


def summarize(turns: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for c in COMPARED:
        rev = [figure(r, c.key) for r in turns["REV"]]
        head = [figure(r, c.key) for r in turns["HEAD"]]
        if all(v is None for v in rev + head):
            continue
        rev_mean, head_mean = mean(rev), mean(head)
        ratio = (round(head_mean / rev_mean, 3) if rev_mean and head_mean is not None
                 else None)
        rows.append({"key": c.key, "label": c.label, "unit": c.unit, "rev": rev,
                     "head": head, "rev_mean": rev_mean, "head_mean": head_mean,
                     "head_over_rev": ratio, "higher_is_better": c.higher_is_better})
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def table(rows: list[dict[str, Any]], rev_label: str, head_label: str) -> str:
    lines = [f"REV  = {rev_label}", f"HEAD = {head_label}", ""]
    header = f"{'figure':<42} {'unit':<11} {'REV':>22} {'HEAD':>22} {'HEAD/REV':>9}"
    lines += [header, "-" * len(header)]
    for r in rows:
        rev = " ".join(_fmt(v) for v in r["rev"])
        head = " ".join(_fmt(v) for v in r["head"])
        ratio = r["head_over_rev"]
        better = ("" if ratio is None else
                  " better" if (ratio > 1) == r["higher_is_better"] and ratio != 1 else "")
        lines.append(f"{r['label']:<42} {r['unit']:<11} {rev:>22} {head:>22} "
                     f"{_fmt(ratio):>9}{better}")
    return "\n".join(lines)


def run(rev: str, sections: list[str], quick: bool, rounds: int, out: Path) -> int:
    sha = resolve(rev)
    scratch = Path(tempfile.mkdtemp(prefix="energy-against-results-"))
    turns: dict[str, list[dict[str, Any]]] = {"REV": [], "HEAD": []}
    started = time.monotonic()
    with overlay(sha) as (rev_tree, rev_root):
        rev_label, head_label = describe(rev_tree), describe(ROOT)
        rev_sections = sections
        refused = harness_loads(rev_root)
        if refused:
            rev_root = rev_tree
            rev_sections = [s for s in sections if s in known_sections(rev_tree)]
            rev_label += " [measured by its own harness and sizes: compare ratios only]"
            log(f"against: this harness cannot import {rev}'s code ({refused}); its turns run "
                f"its own harness ({', '.join(rev_sections)})")
        for turn in range(1, rounds + 1):
            for side, root, chosen in (("REV", rev_root, rev_sections),
                                       ("HEAD", ROOT, sections)):
                path = scratch / f"{side.lower()}-{turn}.json"
                turns[side].append(run_turn(root, side, turn, chosen, quick, path)
                                   if chosen else {})
    rows = summarize(turns)
    document = {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), "rev": rev,
                "rev_commit": sha, "rev_label": rev_label, "head_label": head_label,
                "sections": sections, "quick": quick, "rounds": rounds,
                "total_seconds": round(time.monotonic() - started, 1), "figures": rows,
                "turns": turns}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1, default=str) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(table(rows, rev_label, head_label))
    print()
    log(f"against: done in {document['total_seconds']:.0f}s; wrote {out}")
    failed = [f"{side}{i + 1} {name}" for side, results in turns.items()
              for i, r in enumerate(results)
              for name, section in r.items() if isinstance(section, dict) and "error" in section]
    if failed:
        log(f"against: sections that failed (missing above): {', '.join(failed)}")
    head_failed = [f for f in failed if f.startswith("HEAD")]
    return 1 if head_failed or any("error" in r for r in turns["HEAD"]) else 0
