"""``energy-ingest``: the one command line of the system."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from processor.settings import Settings, get_settings

log = logging.getLogger("energy-ingest")


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The frameworks narrate every start and stop at INFO; keep our own progress readable.
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ("pgserver", "faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(quiet)


def need(value: str | None, variable: str, what: str) -> str:
    if not value:
        raise SystemExit(
            f"error: {variable} is not set. Point it at {what}, or run `energy-ingest up`, "
            "which starts embedded services when none are configured.")
    return value


def producer_bootstrap(settings: Settings) -> str:
    """The configured broker, else the embedded one a running `energy-ingest up` started."""
    from producers.kafka import running_services

    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    info = running_services(settings.data_dir)
    if info:
        return str(info["bootstrap"])
    raise SystemExit(
        "error: no broker. Set KAFKA_BOOTSTRAP_SERVERS, or start `energy-ingest up` first "
        f"(its embedded broker's address is kept in {settings.data_dir / 'services.json'}).")


# ---- commands -------------------------------------------------------------------------------

def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from db.migrate import migrate
    from processor.services import services

    with services(settings) as (_bootstrap, dsn):
        applied = migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from processor.topics import ensure_topics, required_topics

    bootstrap = need(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS", "your Kafka")
    ensure_topics(bootstrap, settings.app_id, settings.telemetry_partitions)
    for name, partitions in required_topics(settings.app_id,
                                            settings.telemetry_partitions).items():
        print(f"{name}\t{partitions}")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run one Faust worker against configured services (see `up` for embedded ones)."""
    import faust

    from db.migrate import migrate
    from processor.app import build_app
    from processor.topics import ensure_topics

    bootstrap = need(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS", "your Kafka")
    dsn = need(settings.database_dsn, "DATABASE_URL", "your PostgreSQL")
    if args.web_port:
        settings = settings.model_copy(update={"web_port": args.web_port})
    migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
    ensure_topics(bootstrap, settings.app_id, settings.telemetry_partitions)
    pipeline = build_app(settings, dsn)
    log.info("worker: web server at http://%s:%d", settings.web_bind, settings.web_port)
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level.lower(), quiet=True,
                          override_logging=False)
    worker.execute_from_commandline()
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from producers.simulate import SimulateOptions, simulate

    opts = SimulateOptions(devices=args.devices, hours=args.hours, speed=args.speed,
                           count=args.count, minutes=args.minutes, batch=args.batch,
                           seed=args.seed, topic=args.topic)
    return 0 if simulate(producer_bootstrap(settings), opts) >= 0 else 1


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    from producers.publish import publish_lines

    bootstrap = producer_bootstrap(settings)
    if args.file == "-":
        _acked, failed = publish_lines(bootstrap, sys.stdin.buffer, args.topic)
    else:
        path = Path(args.file)
        if not path.is_file():
            raise SystemExit(f"error: no such file: {path}")
        with path.open("rb") as source:
            _acked, failed = publish_lines(bootstrap, source, args.topic)
    return 1 if failed else 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Services (embedded when unset), migrations, topics, workers, optionally the simulator."""
    from db.migrate import migrate
    from processor.services import redact, services, spawn
    from processor.topics import ensure_topics
    from producers.kafka import write_services_file

    _raise_on_sigterm()
    with services(settings) as (bootstrap, dsn):
        migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
        ensure_topics(bootstrap, settings.app_id, settings.telemetry_partitions)
        write_services_file(settings.data_dir, bootstrap, dsn)
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": dsn}
        children: list[tuple[str, subprocess.Popen[bytes]]] = []
        for i in range(args.workers):
            port = settings.web_port + i
            children.append((f"worker-{i + 1}", spawn(
                [sys.executable, "-m", "processor.cli", "worker", "--web-port", str(port)],
                env=env)))
        log.info("up: %d worker(s); web at http://%s:%d", args.workers, settings.web_bind,
                 settings.web_port)
        log.info("up: look at the data with: psql '%s'", redact(dsn))
        if args.simulate:
            children.append(("simulator", spawn(
                [sys.executable, "-m", "processor.cli", "simulate", "--devices",
                 str(args.devices), "--hours", str(args.hours), "--batch", str(args.batch)],
                env=env)))
        try:
            return _supervise(children)
        finally:
            _stop_children(children)


def _raise_on_sigterm() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _supervise(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    try:
        while True:
            for name, proc in children:
                code = proc.poll()
                if code is None:
                    continue
                if name == "simulator" and code == 0:
                    log.info("up: simulator finished; workers keep running (Ctrl-C stops)")
                    children.remove((name, proc))
                    break
                log.error("up: %s exited with code %s; stopping", name, code)
                return code or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        log.info("up: stopping")
        return 0


def _stop_children(children: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _name, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, proc in children:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("up: %s did not stop in time; killing it", name)
            proc.kill()
            proc.wait()


# ---- parser ---------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="energy-ingest",
        description="Kafka stream processor for smart-meter and electric-vehicle telemetry.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="run everything (embedded services when none configured)")
    up.add_argument("--simulate", action="store_true", help="also publish a simulated fleet")
    up.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    _fleet_args(up, devices=100, hours=24.0, batch=100)
    up.set_defaults(func=cmd_up)

    worker = sub.add_parser("worker", help="run one worker against configured services")
    worker.add_argument("--web-port", type=int, default=None, help="overrides WEB_PORT")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="apply database migrations (harmless twice)").set_defaults(
        func=cmd_migrate)
    sub.add_parser("topics", help="create the topics with TELEMETRY_PARTITIONS").set_defaults(
        func=cmd_topics)

    sim = sub.add_parser("simulate", help="publish a simulated fleet's readings")
    _fleet_args(sim, devices=100, hours=24.0, batch=1)
    sim.add_argument("--speed", type=float, default=0.0,
                     help="simulated minutes per second while replaying the past (0: no limit)")
    sim.add_argument("--count", type=int, default=None, help="stop after this many readings")
    sim.add_argument("--minutes", type=int, default=None,
                     help="stop after this many simulated minutes")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--topic", default="telemetry.raw")
    sim.set_defaults(func=cmd_simulate)

    pub = sub.add_parser("publish", help="publish NDJSON readings from FILE (- for stdin)")
    pub.add_argument("file", metavar="FILE")
    pub.add_argument("--topic", default="telemetry.raw")
    pub.set_defaults(func=cmd_publish)
    return p


def _fleet_args(p: argparse.ArgumentParser, devices: int, hours: float, batch: int) -> None:
    p.add_argument("--devices", type=int, default=devices,
                   help=f"meters, and as many vehicles (default {devices})")
    p.add_argument("--hours", type=float, default=hours,
                   help=f"replay from this many hours ago up to now (default {hours:g})")
    p.add_argument("--batch", type=int, default=batch,
                   help=f"readings per Kafka message (default {batch}; 1: single readings)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        return int(args.func(settings, args) or 0)
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
