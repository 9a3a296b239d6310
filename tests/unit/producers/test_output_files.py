"""An output path the producers write (``simulate --truth``) is written, never replaced, when
it is not a regular file: ``--truth /dev/null`` run as root once replaced the null device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from processor.errors import StartupError
from producers.fleet import Fleet, OutputPathError, read_truth
from producers.simulate import SimulateOptions, simulate

HEADER = "vehicle_id,meter_id,efficiency,faulty"


def test_a_fifo_is_written_into_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "truth.fifo"
    os.mkfifo(fifo)
    # The read end is open (non-blocking) before the write, so the writer never waits for a
    # reader, and a writer that renamed over the FIFO instead cannot hang the test.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        Fleet(3, seed=1).write_truth(fifo)
        received = os.read(reader, 65536).decode()
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received.splitlines()[0] == HEADER
    assert [line.split(",")[0] for line in received.splitlines()[1:]] == [
        "V-0001", "V-0002", "V-0003"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truth.fifo"]  # no .partial left


def test_a_link_to_a_character_device_stays_a_link_to_it(tmp_path: Path) -> None:
    """The link lives in tmp_path: a writer that renamed over it would replace only the
    link, never the device itself."""
    link = tmp_path / "null"
    link.symlink_to(os.devnull)
    Fleet(3, seed=1).write_truth(link)
    assert link.is_symlink() and os.readlink(link) == os.devnull
    assert stat.S_ISCHR(os.stat(link).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_a_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "truth.csv"
    target.write_text("stale\n" * 1000)
    Fleet(4, seed=2).write_truth(target)
    assert sorted(read_truth(target)) == ["V-0001", "V-0002", "V-0003", "V-0004"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truth.csv"]


def test_a_link_to_a_regular_file_keeps_the_link_and_replaces_its_file(tmp_path: Path) -> None:
    real = tmp_path / "runs" / "truth.csv"
    real.parent.mkdir()
    real.write_text("stale\n")
    link = tmp_path / "truth.csv"
    link.symlink_to(real)
    Fleet(2, seed=2).write_truth(link)
    assert link.is_symlink() and link.resolve() == real
    assert sorted(read_truth(real)) == ["V-0001", "V-0002"]


def test_a_directory_is_refused_with_a_message_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "truth"
    target.mkdir()
    with pytest.raises(OutputPathError, match=r"refusing to write to .*truth: it is a "
                                              r"directory, not a regular file"):
        Fleet(2, seed=2).write_truth(target)
    assert target.is_dir() and list(target.iterdir()) == []


def test_simulate_refuses_a_truth_it_cannot_write_before_it_publishes(tmp_path: Path) -> None:
    """A start-up error (one ``error:`` line, ``up`` does not restart it), raised before the
    broker is asked: none listens on port 1."""
    opts = SimulateOptions(devices=2, truth=tmp_path)
    with pytest.raises(StartupError, match="it is a directory"):
        simulate("127.0.0.1:1", opts)
    opts = SimulateOptions(devices=2, truth=tmp_path / "file" / "below-a-file.csv")
    (tmp_path / "file").write_text("")
    with pytest.raises(StartupError, match="cannot write the ground truth to .*below-a-file"):
        simulate("127.0.0.1:1", opts)
