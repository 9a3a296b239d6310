"""``energy-ingest up``: run the gateway, the workers (and the simulator); keep them running.

- A worker that exits with an error is restarted, with a pause; one that keeps failing
  (5 times within 2 minutes) stops everything, with its exit code. One that cannot start (a
  start-up error, exit code 2: it printed why) stops everything at once.
- If the embedded broker dies, everything it held is gone (it keeps nothing across a restart):
  the workers are stopped, the broker restarted on the same address, the topics recreated and
  the Faust changelogs refilled from PostgreSQL, then the workers start again.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from processor.errors import EXIT_STARTUP
from processor.ops.embedded import EmbeddedBroker, spawn
from processor.settings import Settings

log = logging.getLogger("energy-ingest")

MAX_RESTARTS = 5
RESTART_WINDOW = 120.0


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of the supervisor's
    restarts: deque[float] = field(default_factory=deque)
    done: bool = False  # finished on purpose (the simulator after its count)


class Supervisor:
    def __init__(self, settings: Settings, bootstrap: str, dsn: str,
                 broker: EmbeddedBroker | None, env: dict[str, str]) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.dsn = dsn
        self.broker = broker
        self.env = env
        self.children: list[Child] = []
        self.restarted_broker = False  # a broker we started; the caller stops the first one

    def add(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.children.append(Child(name, [sys.executable, "-m", "processor.ops.cli", *args],
                                   env=env or {}))

    def start(self, child: Child) -> None:
        child.proc = spawn(child.argv, env={**self.env, **child.env})

    def run(self) -> int:
        for child in self.children:
            self.start(child)
        try:
            while True:
                if self.broker is not None and self.broker.proc.poll() is not None:
                    self._recover_broker()
                for child in self.children:
                    code = self._check(child)
                    if code is not None:
                        return code
                time.sleep(0.5)
        except KeyboardInterrupt:
            log.info("up: stopping")
            return 0
        finally:
            self.stop_all()
            if self.restarted_broker and self.broker is not None:
                self.broker.stop()

    def _check(self, child: Child) -> int | None:
        """None while all is well; an exit code when ``up`` must give up."""
        if child.done or child.proc is None:
            return None
        code = child.proc.poll()
        if code is None:
            return None
        if code == 0 and child.name == "simulator":
            log.info("up: simulator finished; the workers keep running (Ctrl-C stops)")
            child.done = True
            return None
        if code == EXIT_STARTUP:  # it said why (one line, above); it would fail again alike
            log.error("up: %s could not start (exit code %s); stopping", child.name, code)
            return code
        now = time.monotonic()
        child.restarts.append(now)
        while child.restarts and now - child.restarts[0] > RESTART_WINDOW:
            child.restarts.popleft()
        if len(child.restarts) > MAX_RESTARTS:
            log.error("up: %s keeps failing (exit code %s, %d times in %.0fs); stopping",
                      child.name, code, len(child.restarts), RESTART_WINDOW)
            return code or 1
        log.warning("up: %s exited with code %s; restarting it in 2s", child.name, code)
        time.sleep(2)
        self.start(child)
        return None

    def _recover_broker(self) -> None:
        from processor.kafka.topics import ensure_topics
        from processor.ops.rebuild import refill_changelogs

        assert self.broker is not None
        log.error(
            "up: the embedded broker at %s exited (code %s). It keeps everything in memory: "
            "topics, offsets and consumer groups are gone, and readings published but not yet "
            "written are lost (Apache Kafka keeps them on disk instead). PostgreSQL still holds "
            "every committed reading. Restarting the broker on the same address, recreating "
            "the topics and restarting the workers.",
            self.bootstrap, self.broker.proc.returncode)
        self.stop_all(timeout=5)  # nothing left to flush: their broker is gone
        port = int(self.bootstrap.rsplit(":", 1)[1])
        self.broker = EmbeddedBroker.start(self.settings.data_dir, port)
        self.restarted_broker = True
        ensure_topics(self.bootstrap, self.settings.app_id, self.settings.telemetry_partitions)
        refill_changelogs(self.dsn, self.bootstrap, self.settings.app_id,
                          self.settings.telemetry_partitions, self.settings.hourly_window_hours)
        for child in self.children:
            if not child.done:
                self.start(child)
        log.info("up: broker back at %s with fresh topics; workers restarted", self.bootstrap)

    def stop_all(self, timeout: float = 20.0) -> None:
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("up: %s did not stop in %.0fs; killing it", child.name, timeout)
                child.proc.kill()
                child.proc.wait()
