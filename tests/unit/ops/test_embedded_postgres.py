"""A PostgreSQL left running by a killed process is taken over: its dead handles are dropped
from pgserver's list, so the next process to stop is the last handle and stops the server."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import time
from pathlib import Path

import psutil
from pgserver.postgres_server import PostgresServer

from processor.ops.embedded import HANDLES_FILE, release_dead_handles


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def handles(pgdata: Path) -> list[int]:
    return list(json.loads((pgdata / HANDLES_FILE).read_text()))


def test_the_handles_of_processes_that_are_gone_are_dropped_and_named(tmp_path: Path) -> None:
    gone = dead_pid()
    (tmp_path / HANDLES_FILE).write_text(json.dumps([gone, os.getpid()]))
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n")  # a server runs
    assert release_dead_handles(tmp_path) == [gone]
    assert handles(tmp_path) == [os.getpid()]
    assert release_dead_handles(tmp_path) == []  # nothing more to take over


def test_a_killed_process_not_yet_reaped_is_gone(tmp_path: Path) -> None:
    zombie = subprocess.Popen(["true"])  # exits; not waited for: a zombie until reaped
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        (tmp_path / HANDLES_FILE).write_text(json.dumps([zombie.pid]))
        (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n")
        assert release_dead_handles(tmp_path) == [zombie.pid]
        assert handles(tmp_path) == []
    finally:
        zombie.wait()


def test_without_a_running_server_dead_handles_are_dropped_and_nothing_is_taken_over(
        tmp_path: Path) -> None:
    (tmp_path / HANDLES_FILE).write_text(json.dumps([dead_pid()]))
    (tmp_path / "postmaster.pid").write_text(f"{dead_pid()}\n")  # a stale one
    assert release_dead_handles(tmp_path) == []
    assert handles(tmp_path) == []


def test_a_handles_file_of_another_form_is_left_as_it_is(tmp_path: Path) -> None:
    for text in ('{"pids": [1]}', '["1"]', "not json"):
        (tmp_path / HANDLES_FILE).write_text(text)
        assert release_dead_handles(tmp_path) == []
        assert (tmp_path / HANDLES_FILE).read_text() == text
    assert release_dead_handles(tmp_path / "nowhere") == []


def test_pgserver_keeps_its_handles_where_and_how_release_dead_handles_reads_them() -> None:
    """pgserver 0.1.4: a list of pids in PGDATA/.handle_pids.json, changed under its class
    lock, and the server stopped only by the last handle; a newer pgserver must be checked."""
    init = inspect.getsource(PostgresServer.__init__)
    cleanup = inspect.getsource(PostgresServer._cleanup)
    assert f"self.pgdata / '{HANDLES_FILE}'" in init and "DiskList(list_path)" in init
    assert "with self._lock:" in cleanup and "if pids != [os.getpid()]:" in cleanup
