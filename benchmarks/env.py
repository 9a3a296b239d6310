"""The services of a run: one embedded PostgreSQL (a fresh database per scenario) and a fresh
embedded broker per scenario, all under a temporary directory."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks.workers import Worker
from db.migrate import migrate
from processor.kafka.topics import ensure_topics
from processor.ops.embedded import EmbeddedBroker, EmbeddedPostgres


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Scenario:
    """One isolated measurement: its own broker, database, consumer group and workers."""

    name: str
    bootstrap: str
    dsn: str
    app_id: str
    directory: Path
    partitions: int
    broker: EmbeddedBroker
    workers: list[Worker] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` when the scenario ends, before its workers and broker stop."""
        self.closers.append(closer)

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, options="-c TimeZone=UTC") as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


class Stack:
    """Embedded PostgreSQL for the whole run; ``scenario()`` gives each measurement the rest."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="energy-bench-"))
        self.keep = keep
        started = time.monotonic()
        self.pg = EmbeddedPostgres.start(self.root)
        log(f"embedded PostgreSQL up in {time.monotonic() - started:.1f}s ({self.root})")
        self.admin_dsn = self.pg.dsn

    def close(self) -> None:
        self.pg.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        pidfile = self.root / "postgres" / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def database_dsn(self, dbname: str) -> str:
        params = conninfo_to_dict(self.admin_dsn)
        params["dbname"] = dbname
        return make_conninfo(**params)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[str]:
        """A fresh, migrated database, dropped afterwards."""
        dbname = f"bench_{name}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')  # type: ignore[arg-type]
        dsn = self.database_dsn(dbname)
        try:
            migrate(dsn)
            yield dsn
        finally:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')  # type: ignore[arg-type]

    @contextlib.contextmanager
    def scenario(self, name: str, partitions: int) -> Iterator[Scenario]:
        directory = self.root / name
        repeat = 1
        while directory.exists():  # a section measured twice (benchmarks/__main__.py PAIRED)
            repeat += 1
            directory = self.root / f"{name}-{repeat}"
        directory.mkdir(parents=True)
        broker = EmbeddedBroker.start(directory)
        app_id = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        try:
            ensure_topics(broker.bootstrap, app_id, partitions)
            with self.database(name) as dsn:
                scenario = Scenario(name, broker.bootstrap, dsn, app_id, directory, partitions,
                                    broker)
                try:
                    yield scenario
                finally:
                    for closer in reversed(scenario.closers):
                        with contextlib.suppress(Exception):
                            closer()
                    for worker in scenario.workers:
                        worker.stop(graceful=False)
        finally:
            broker.stop()
