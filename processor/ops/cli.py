"""``energy-ingest``: the one command line of the system."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from processor.errors import EXIT_STARTUP, StartupError
from processor.ops.startup import (
    require_api_keys,
    require_database,
    require_free_port,
    require_kafka_security,
)
from processor.settings import Settings, get_settings

log = logging.getLogger("energy-ingest")

WORKER_BIND = "127.0.0.1"  # under `up`, the workers are reached through the gateway only


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


def running_service(settings: Settings, configured: str | None, key: str, variable: str,
                    what: str) -> str:
    """The configured service, else the embedded one a running `energy-ingest up` started."""
    from processor.ops.services_file import running_services

    if configured:
        return configured
    info = running_services(settings.data_dir)
    if info:
        return str(info[key])
    raise SystemExit(
        f"error: no {what}. Set {variable}, or start `energy-ingest up` first (the addresses of "
        f"its embedded services are kept in {settings.data_dir / 'services.json'}).")


def producer_bootstrap(settings: Settings) -> str:
    return running_service(settings, settings.kafka_bootstrap_servers, "bootstrap",
                           "KAFKA_BOOTSTRAP_SERVERS", "broker")


def running_dsn(settings: Settings) -> str:
    return running_service(settings, settings.database_dsn, "dsn", "DATABASE_URL", "database")


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured PostgreSQL, else the embedded one a running `up` started, else the
    embedded one, started for the command."""
    from processor.ops.embedded import EmbeddedPostgres
    from processor.ops.services_file import running_services

    if settings.database_dsn:
        yield settings.database_dsn
        return
    info = running_services(settings.data_dir)
    if info:
        yield str(info["dsn"])
        return
    pg = EmbeddedPostgres.start(settings.data_dir)
    try:
        yield pg.dsn
    finally:
        pg.stop()


def parse_time(text: str) -> datetime:
    """ISO-8601 (UTC when no zone is given) or a duration ago: 90s, 30m, 2h, 1d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) - timedelta(seconds=float(text[:-1]) * units[text[-1]])
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither ISO-8601 (2026-02-10T19:00:00Z) nor a duration (30m, 2h)"
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


# ---- commands -------------------------------------------------------------------------------

def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from db.migrate import migrate
    from processor.ops.embedded import services

    with services(settings) as (_bootstrap, dsn, _broker):
        require_database(dsn)
        applied = migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from processor.kafka.topics import ensure_topics, required_topics

    bootstrap = need(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS", "your Kafka")
    ensure_topics(bootstrap, settings.app_id, settings.telemetry_partitions)
    for name, partitions in required_topics(settings.app_id,
                                            settings.telemetry_partitions).items():
        print(f"{name}\t{partitions}")
    return 0


def cmd_partitions(settings: Settings, args: argparse.Namespace) -> int:
    """Create history partitions ahead and apply RETENTION_DAYS now (the worker does it hourly)."""
    from db.partitions import maintain_partitions

    retention = settings.retention_days if args.retention_days is None else args.retention_days
    with database(settings) as dsn:
        try:
            report = maintain_partitions(dsn, ahead_days=settings.partitions_ahead_days,
                                         retention_days=retention)
        except RuntimeError as exc:
            raise SystemExit(f"error: {exc}") from None
    for line in report.lines():
        print(line)
    if not report.changed:
        print("partitions: nothing to create or drop")
    return 0


def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    """Make, list and revoke the API keys (kept in PostgreSQL as digests)."""
    from processor.domain.api_keys import Scope, key_id_of, parse_scopes
    from processor.ops import keys

    scopes: tuple[Scope, ...] = ()
    if args.action == "create":
        try:
            scopes = parse_scopes(args.scope or [])
        except ValueError as exc:
            raise SystemExit(f"error: --scope: {exc}") from None
    from db.migrate import migrate

    with database(settings) as dsn:
        require_database(dsn)
        migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
        if args.action == "create":
            keys.create(dsn, scopes, args.name, settings)
        elif args.action == "list":
            keys.show(dsn)
        elif not keys.revoke(dsn, key_id_of(args.key_id) or args.key_id, settings):
            return 1
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run one Faust worker against configured services (see `up` for embedded ones)."""
    from processor.stream.eventloop import use_event_loop
    from processor.stream.gc_tuning import tune_gc

    loop = use_event_loop(settings.event_loop)
    tune_gc(settings.gc_gen0_threshold)
    import faust

    from db.migrate import migrate
    from processor.app import build_app
    from processor.kafka.topics import ensure_topics

    bootstrap = need(settings.kafka_bootstrap_servers, "KAFKA_BOOTSTRAP_SERVERS", "your Kafka")
    dsn = need(settings.database_dsn, "DATABASE_URL", "your PostgreSQL")
    if args.web_port:
        settings = settings.model_copy(update={"web_port": args.web_port})
        # Faust reads WEB_PORT from the environment too, and prefers it to the App's argument:
        # without this, `up --workers 2` with WEB_PORT set bound both workers to one port.
        os.environ["WEB_PORT"] = str(args.web_port)
    require_database(dsn)
    migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
    require_api_keys(settings, dsn)
    ensure_topics(bootstrap, settings.app_id, settings.telemetry_partitions)
    pipeline = build_app(settings, dsn)
    # Checked last, just before Faust binds it: the smaller the gap, the rarer a race.
    require_free_port(settings.web_bind, settings.web_port)
    log.info("worker: web server at http://%s:%d (event loop: %s)", settings.web_bind,
             settings.web_port, loop)
    worker = faust.Worker(pipeline.app, loglevel=settings.log_level.lower(), quiet=True,
                          override_logging=False)
    worker.execute_from_commandline()
    return 0


def cmd_gateway(settings: Settings, args: argparse.Namespace) -> int:
    """Serve HTTP on WEB_PORT: ingest to Kafka, everything else forwarded to the workers."""
    from processor.gateway.serve import serve

    if args.processes:
        settings = settings.model_copy(update={"gateway_processes": args.processes})
    if args.workers is not None:
        settings = settings.model_copy(update={"worker_urls": args.workers})
    bootstrap = producer_bootstrap(settings)
    if settings.database_dsn:
        require_database(settings.database_dsn)
    require_api_keys(settings, settings.database_dsn)
    require_free_port(settings.web_bind, settings.web_port)
    serve(settings, bootstrap)
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from producers.simulate import SimulateOptions, simulate

    opts = SimulateOptions(devices=args.devices, hours=args.hours, speed=args.speed,
                           count=args.count, minutes=args.minutes, batch=args.batch,
                           seed=args.seed, topic=args.topic, truth=args.truth)
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


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from processor.domain.readings import set_min_reading_time
    from processor.ops.replay import replay

    if args.to is not None and args.to <= args.start:
        raise SystemExit("error: --to must be after --from")
    set_min_reading_time(settings.min_reading_time)  # judged again by the worker's rules
    summary = replay(producer_bootstrap(settings), running_dsn(settings), args.topic,
                     args.start, args.to)
    return 0 if summary.read or not args.strict else 1


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from processor.ops.rebuild import WorkersRunning, rebuild

    try:
        rebuild(running_dsn(settings), producer_bootstrap(settings), settings.app_id,
                settings.telemetry_partitions, settings.hourly_window_hours)
    except WorkersRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("rebuild: done; start the workers again: they load the rebuilt tables")
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    """Services (embedded when unset), migrations, topics, the gateway on WEB_PORT, the workers
    on WORKER_PORT and up (loopback only), optionally the simulator."""
    from db.migrate import migrate
    from processor.kafka.topics import ensure_topics
    from processor.ops.embedded import redact, services
    from processor.ops.services_file import write_services_file
    from processor.ops.supervisor import Supervisor

    _raise_on_sigterm()
    worker_ports = [settings.worker_port + i for i in range(args.workers)]
    # Before anything starts: a busy port is said at once.
    require_free_port(settings.web_bind, settings.web_port)
    for port in worker_ports:
        require_free_port(WORKER_BIND, port, "WORKER_PORT")
    with services(settings) as (bootstrap, dsn, broker):
        require_database(dsn)
        migrate(dsn, settings.partitions_ahead_days, settings.partitions_behind_days)
        require_api_keys(settings, dsn)
        ensure_topics(bootstrap, settings.app_id, settings.telemetry_partitions)
        write_services_file(settings.data_dir, bootstrap, dsn)
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATABASE_URL": dsn}
        if broker is not None:  # its quirks (Settings.kafka_embedded)
            env["KAFKA_EMBEDDED"] = "true"
        supervisor = Supervisor(settings, bootstrap, dsn, broker, env)
        worker_urls = ",".join(f"http://{WORKER_BIND}:{port}" for port in worker_ports)
        supervisor.add("gateway", ["gateway"], {"WORKER_URLS": worker_urls})
        for i, port in enumerate(worker_ports):
            supervisor.add(f"worker-{i + 1}", ["worker", "--web-port", str(port)],
                           {"WEB_BIND": WORKER_BIND})
        if args.simulate:
            truth = settings.data_dir / "simulated-fleet.csv"
            supervisor.add("simulator", ["simulate", "--devices", str(args.devices), "--hours",
                                         str(args.hours), "--batch", str(args.batch),
                                         "--seed", str(args.seed), "--truth", str(truth)])
        log.info("up: web at http://%s:%d (gateway, %d process(es)); %d worker(s) behind it "
                 "at %s", settings.web_bind, settings.web_port,
                 settings.gateway_process_count, args.workers, worker_urls)
        log.info("up: look at the data with: psql '%s'", redact(dsn))
        return supervisor.run()


def _raise_on_sigterm() -> None:
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


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

    gateway = sub.add_parser("gateway", help="serve HTTP on WEB_PORT: ingest to Kafka, the "
                             "rest forwarded to the workers")
    gateway.add_argument("--processes", type=int, default=None,
                         help="overrides GATEWAY_PROCESSES (default: the core count)")
    gateway.add_argument("--workers", default=None, metavar="URLS",
                         help="overrides WORKER_URLS: the workers' base URLs, comma-separated")
    gateway.set_defaults(func=cmd_gateway)

    keys = sub.add_parser("keys", help="make, list and revoke API keys",
                          description="API keys for the HTTP API and the web view. Beyond "
                                      "loopback (WEB_BIND) the API requires them; on loopback, "
                                      "once one exists.")
    keys_sub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="make a key and print it (once)")
    create.add_argument("--scope", action="append", required=True, metavar="SCOPES",
                        help="ingest, admin or read; repeat it or separate with commas")
    create.add_argument("--name", default="", help="who or what holds it")
    keys_sub.add_parser("list", help="every key: id, name, scopes, made, revoked")
    revoke = keys_sub.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("key_id", metavar="ID", help="its id (keys list), or the whole key")
    keys.set_defaults(func=cmd_keys)

    sub.add_parser("migrate", help="apply database migrations (harmless twice)").set_defaults(
        func=cmd_migrate)
    sub.add_parser("topics", help="create the topics with TELEMETRY_PARTITIONS").set_defaults(
        func=cmd_topics)
    parts = sub.add_parser("partitions", help="create history partitions ahead, drop those "
                           "older than RETENTION_DAYS")
    parts.add_argument("--retention-days", type=int, default=None, metavar="DAYS",
                       help="overrides RETENTION_DAYS (0: keep everything)")
    parts.set_defaults(func=cmd_partitions)

    sim = sub.add_parser("simulate", help="publish a simulated fleet's readings")
    _fleet_args(sim, devices=100, hours=24.0, batch=1)
    sim.add_argument("--speed", type=float, default=0.0,
                     help="simulated minutes per second while replaying the past (0: no limit)")
    sim.add_argument("--count", type=int, default=None, help="stop after this many readings")
    sim.add_argument("--minutes", type=int, default=None,
                     help="stop after this many simulated minutes")
    sim.add_argument("--topic", default="telemetry.raw")
    sim.add_argument("--truth", type=Path, default=None, metavar="FILE",
                     help="write which vehicles the simulator made faulty (CSV: vehicle_id, "
                          "meter_id, efficiency, faulty), to check the alerts against")
    sim.set_defaults(func=cmd_simulate)

    pub = sub.add_parser("publish", help="publish NDJSON readings from FILE (- for stdin)")
    pub.add_argument("file", metavar="FILE")
    pub.add_argument("--topic", default="telemetry.raw")
    pub.set_defaults(func=cmd_publish)
    rep = sub.add_parser("replay", help="re-process a time range of a topic (idempotent)")
    rep.add_argument("--from", dest="start", type=parse_time, required=True, metavar="TIME",
                     help="publish time to start at: ISO-8601, or a duration ago (30m, 2h, 1d)")
    rep.add_argument("--to", type=parse_time, default=None, metavar="TIME",
                     help="publish time to stop before (default: the end of the topic)")
    rep.add_argument("--topic", default="telemetry.raw",
                     help="telemetry.raw (default), telemetry.meter or telemetry.vehicle")
    rep.add_argument("--strict", action="store_true", help="exit 1 when nothing was read")
    rep.set_defaults(func=cmd_replay)

    sub.add_parser("rebuild", help="recompute live state, rollups and Faust tables from the "
                   "history").set_defaults(func=cmd_rebuild)
    return p


def _fleet_args(p: argparse.ArgumentParser, devices: int, hours: float, batch: int) -> None:
    p.add_argument("--devices", type=int, default=devices,
                   help=f"meters, and as many vehicles (default {devices})")
    p.add_argument("--hours", type=float, default=hours,
                   help=f"replay from this many hours ago up to now (default {hours:g})")
    p.add_argument("--batch", type=int, default=batch,
                   help=f"readings per Kafka message (default {batch}; 1: single readings)")
    p.add_argument("--seed", type=int, default=42,
                   help="the fleet and every reading derive from it: a device and minute always "
                        "give the same reading, so replayed hours are duplicates, not conflicts "
                        "(default 42)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level)
    try:
        require_kafka_security(settings)  # before any command starts a service or a client
        return int(args.func(settings, args) or 0)
    except (ConnectionError, StartupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
