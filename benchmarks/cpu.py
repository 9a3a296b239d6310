"""Where the CPU went during a measurement: seconds per process group (worker, PostgreSQL,
broker, this harness), from /proc via psutil."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psutil


def cpu_seconds(proc: psutil.Process) -> float:
    """User and system CPU seconds of a process so far; 0 once it is gone."""
    try:
        times = proc.cpu_times()
        return float(times.user + times.system)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0


def with_children(pid: int | None) -> list[psutil.Process]:
    """The process and all its descendants; none when it is gone."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclass
class CpuMeter:
    """CPU seconds used by each group between ``start()`` and ``stop()``. Processes that
    ended in between (short-lived PostgreSQL backends) are not counted."""

    groups: dict[str, list[int | None]]
    whole: tuple[str, ...] = ("postgres",)  # groups whose processes' children count too
    before: dict[int, float] = field(default_factory=dict)
    result: dict[str, float] = field(default_factory=dict)

    def _processes(self) -> dict[str, list[psutil.Process]]:
        out: dict[str, list[psutil.Process]] = {}
        for name, pids in self.groups.items():
            procs: list[psutil.Process] = []
            for pid in pids:
                procs.extend(with_children(pid) if name in self.whole else
                             with_children(pid)[:1])
            out[name] = procs
        return out

    def start(self) -> None:
        self.before = {p.pid: cpu_seconds(p) for procs in self._processes().values()
                       for p in procs}

    def stop(self) -> dict[str, float]:
        for name, procs in self._processes().items():
            total = sum(cpu_seconds(p) - self.before.get(p.pid, 0.0) for p in procs)
            self.result[name] = round(total, 2)
        return self.result


def harness_pid() -> int:
    return os.getpid()
