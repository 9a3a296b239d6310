"""Fixtures: the real embedded broker and PostgreSQL, started once per test session."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

from db.migrate import migrate
from processor.kafka.topics import ensure_topics
from processor.ops.embedded import EmbeddedBroker, EmbeddedPostgres
from processor.stream.metrics import GUARDS
from tests.helpers import Worker, publish, query, start_worker, uid, wait_until

PARTITIONS = 4
APP_ID = "energy-ingest-test"


@dataclass
class Services:
    bootstrap: str
    dsn: str
    data_dir: Path


# Lines of the session's worker logs kept for the terminal summary when a test failed: CI
# prints the summary, and the logs go with the session's folder.
NOTABLE = re.compile(r"CRITICAL|ERROR|stalled|partitions:|Traceback")
# A stall's every task and thread stack: in the log, but they would push the stall's own lines
# (what stalled, its partitions, channels, takes) out of the summary's last 25.
STACKS = re.compile(r"watchdog: (task|thread) ")
notable_lines: list[str] = []


def keep_notable_lines(data_dir: Path) -> None:
    for log in sorted(data_dir.glob("*.log")):
        lines = [line[:500] for line in log.read_text(errors="replace").splitlines()
                 if NOTABLE.search(line) and not STACKS.search(line)]
        if lines:
            notable_lines.append(f"--- {log.name} ({len(lines)} notable lines, the last 25)")
            notable_lines.extend(lines[-25:])


restarts: list[str] = []  # the session worker's exits, each restarted by its supervisor
unexpected: list[str] = []  # those no test said it provokes: they fail the session
running_test: list[Any] = []  # the test running now (its item), for the supervisor


class Supervisor(threading.Thread):
    """Restarts the session's worker when it exits, as ``up`` or an orchestrator would, so the
    tests after it still have a worker. But an exit is a failure of the session unless the
    test running then is marked ``provokes_worker_exit`` (a worker that stalls exits for
    redelivery by design, processor/stream/watchdog.py): the run fails, and the summary says
    which test was running and where the worker's log is."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(name="session-worker-supervisor", daemon=True)
        self.worker = worker
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            code = self.worker.proc.poll()
            if code is not None and not self.stopping.is_set():
                test = running_test[-1] if running_test else None
                line = (f"{time.strftime('%H:%M:%S')} the session's worker exited with {code} "
                        f"during {test.nodeid if test else 'no test'}; restarted (its log: "
                        f"{self.worker.log_path})")
                restarts.append(line)
                if test is None or test.get_closest_marker("provokes_worker_exit") is None:
                    unexpected.append(line)
                self.worker.restart()

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def pytest_runtest_setup(item: Any) -> None:
    running_test.append(item)


def pytest_runtest_teardown(item: Any) -> None:
    if running_test and running_test[-1] is item:
        running_test.pop()


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if unexpected and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in restarts:
        expected = line not in unexpected
        terminalreporter.write_line(f"{'NOTE' if expected else 'FAILED'}: {line}",
                                    yellow=expected, red=not expected)
    if unexpected:
        terminalreporter.write_line(
            f"FAILED: {len(unexpected)} unexpected event(s) of the session's worker (exits, "
            "guards that acted): the run fails even though every test passed (mark a test "
            "that provokes an exit with @pytest.mark.provokes_worker_exit)", red=True)
    if notable_lines:
        terminalreporter.section("the session's worker and gateway logs")
        for line in notable_lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest) -> Iterator[Services]:
    # Not under pytest's own temporary folder: PostgreSQL runs as the user "pgserver" when we
    # are root, and every pytest session makes /tmp/pytest-of-<user> private again (0700),
    # which would stop the server of a session running at the same time.
    data_dir = Path(tempfile.mkdtemp(prefix="energy-test-"))
    broker = EmbeddedBroker.start(data_dir)
    pg = EmbeddedPostgres.start(data_dir)
    try:
        migrate(pg.dsn)
        ensure_topics(broker.bootstrap, APP_ID, PARTITIONS)
        yield Services(broker.bootstrap, pg.dsn, data_dir)
    finally:
        broker.stop()
        pg.stop()
        if request.session.testsfailed or restarts:  # what ended the worker, too
            keep_notable_lines(data_dir)
        if os.environ.get("KEEP_TEST_DATA"):
            print(f"\nkept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def separate_database(server_dsn: str) -> Iterator[str]:
    """A migrated database of its own on the session's server (no daily partitions: rows land
    in the default ones), dropped afterwards."""
    name = f"own_{uid()}"
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    own = make_conninfo(server_dsn, dbname=name)
    try:
        migrate(own, ahead_days=0, behind_days=0)
        yield own
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def separate_broker(directory: Path) -> Iterator[str]:
    """A broker of its own, so its workers are the only ones on its topics."""
    broker = EmbeddedBroker.start(directory)
    try:
        ensure_topics(broker.bootstrap, APP_ID, PARTITIONS)
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def own_database(services: Services) -> Iterator[str]:
    with separate_database(services.dsn) as dsn:
        yield dsn


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[str]:
    with separate_broker(tmp_path) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def worker(services: Services) -> Iterator[Worker]:
    """One worker for the session; it is ready once a probe reading reached PostgreSQL."""
    # STALL_SECONDS 20: a stalled worker exits (and is restarted) well within a test's wait
    w = start_worker(services.bootstrap, services.dsn, services.data_dir,
                     TELEMETRY_PARTITIONS=str(PARTITIONS), APP_ID=APP_ID,
                     ALERT_INTERVAL_SECONDS="10",  # the alert test waits for its ticks
                     STALL_SECONDS="20")
    probe = f"probe-{uid()}"
    publish(services.bootstrap, [{"meterId": probe, "kwhConsumedAc": 0.1, "voltage": 230,
                                  "timestamp": "2026-01-01T00:00:00Z"}])
    wait_until(lambda: query(services.dsn, "SELECT 1 FROM meter_live WHERE meter_id = %s",
                             (probe,)), timeout=90, what="the worker to process a probe")
    supervisor = Supervisor(w)
    supervisor.start()
    yield w
    supervisor.stop()
    acted = guards_that_acted(w.direct_url)
    w.stop()
    if acted:
        unexpected.append(f"the session's worker's guards had to act: {acted} (each must read 0: "
                          f"processor/stream/metrics.py GUARDS; its log: {w.log_path})")
        restarts.append(unexpected[-1])


def guards_that_acted(url: str) -> dict[str, float]:
    """The guard counters of the worker at ``url`` that are not 0 (since its last start)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in GUARDS and sample.value:
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals
