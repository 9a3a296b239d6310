"""The section ``reference``: what the framework and the second hop cost.

The same single-reading and batched input as the ``single`` and ``batched`` sections, consumed
by ``benchmarks/reference_consumer.py`` (one confluent-kafka consumer, our validation and our
writer statement, a commit after each write) and timed the same way: from the first publish
until history, live state and rollups hold every reading.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.cpu import CpuMeter, harness_pid
from benchmarks.env import Stack, log
from benchmarks.fleet_input import Input, Message
from benchmarks.kafka import Publisher
from benchmarks.pipeline import ROLLUP_READINGS, verify, wait_for_count
from benchmarks.stats import rate
from benchmarks.workers import ROOT, peak_rss_mb, stop_process


def measure(stack: Stack, name: str, data: Input, messages: list[Message],
            partitions: int) -> dict[str, Any]:
    with stack.scenario(f"reference-{name}", partitions) as sc:
        out = sc.directory / "reference"
        out.mkdir()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": sc.bootstrap, "DATABASE_URL": sc.dsn,
               "APP_ID": sc.app_id, "BENCH_OUT": str(out)}
        with open(sc.directory / "reference.log", "wb") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.reference_consumer"],
                                    env=env, cwd=ROOT, stdout=log_file,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            publisher = Publisher(sc.bootstrap)
            sc.on_close(publisher.close)
            deadline = time.monotonic() + 60
            while not (out / "ready").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"reference consumer did not start ({proc.returncode}); "
                                       f"see {sc.directory / 'reference.log'}")
                time.sleep(0.02)
            # The group's first join: the first message waits for it, not the measurement.
            publisher.send(messages[:1])
            first = json.loads(messages[0][1])
            wait_for_count(sc, ROLLUP_READINGS, len(first) if isinstance(first, list) else 1,
                           60, 0.02)
            baseline = int(sc.query(ROLLUP_READINGS)[0][0])
            rest = messages[1:]
            expected = len(data.readings)
            log(f"reference {name}: publishing {expected - baseline:,} readings in "
                f"{len(rest):,} messages")
            cpu = CpuMeter({"reference": [proc.pid], "postgres": [stack.postmaster_pid()],
                            "broker": [sc.broker.proc.pid], "harness": [harness_pid()]})
            cpu.start()
            t0 = time.monotonic()
            publisher.send(rest)
            done = wait_for_count(sc, ROLLUP_READINGS, expected,
                                  timeout=max(120.0, expected / 500), interval=0.05)
            seconds = done - t0
            cpu_seconds = cpu.stop()
            readings = expected - baseline
            ok = verify(sc, expected, data.devices)
            peak = peak_rss_mb(proc.pid)
        finally:
            stop_process(proc, 20)
    result = {"readings": readings, "messages": len(rest), "seconds": round(seconds, 3),
              "readings_per_s": rate(readings, seconds), "cpu_seconds": cpu_seconds,
              "peak_rss_mb": peak, "verified": ok}
    log(f"reference {name}: {readings:,} readings in {seconds:.2f}s = "
        f"{result['readings_per_s']:,.0f} readings/s (CPU s {cpu_seconds})")
    return result
