"""Checks made before a service starts, each failing in one line (``processor.errors``)."""

from __future__ import annotations

from processor.errors import StartupError
from processor.kafka.security import KafkaSecurity
from processor.settings import Settings


def require_database(dsn: str, timeout: float = 10.0) -> None:
    """Fail at once, naming the address (without its password), when PostgreSQL cannot be
    reached at ``dsn`` or refuses the login."""
    import psycopg

    from processor.ops.embedded import redact

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        # psycopg's first line names the cause ("...port 5432 failed: Connection refused")
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
        reason = reason.removeprefix("connection failed: ").removeprefix("connection is bad: ")
        raise StartupError(
            f"cannot reach PostgreSQL at {redact(dsn)} ({reason}). Start it there, fix "
            "DATABASE_URL, or unset it to start the embedded PostgreSQL.") from None


def require_kafka_security(settings: Settings) -> KafkaSecurity:
    """Fail at once, naming the setting, on Kafka security settings that cannot work: SASL
    without its mechanism, user or password; a certificate without its key; a file that is
    missing or not PEM; TLS or SASL towards the embedded broker. Otherwise every client would
    fail later, each in its own library's words (or, for a SASL setting given with PLAINTEXT,
    connect without it)."""
    security = KafkaSecurity.from_settings(settings)
    security.ssl_context()  # reads the CA, certificate and key as aiokafka will
    return security


def require_free_port(host: str, port: int, variable: str = "WEB_PORT") -> None:
    """Fail at once when the web server could not listen on ``host:port`` (as aiohttp binds:
    with SO_REUSEADDR, so a port left in TIME_WAIT by a stopped worker is still free)."""
    import socket

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc}. Fix WEB_BIND.") from None
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {host}:{port} ({exc.strerror or exc}): another process "
                    f"(another `energy-ingest up`?) uses it. Stop it, or set {variable} to a "
                    "free port.") from None


def require_api_keys(settings: Settings, dsn: str | None) -> None:
    """A server bound beyond loopback starts only with a key to check requests against."""
    if not settings.bind_public:
        return
    where = f"WEB_BIND={settings.web_bind} serves the API beyond this machine, so it requires " \
            "API keys"
    if not dsn:
        raise StartupError(f"{where}, which are kept in PostgreSQL: set DATABASE_URL (or bind "
                           "to 127.0.0.1).")
    from db.api_keys import count_active

    if count_active(dsn) == 0:
        raise StartupError(
            f"{where}, and none exists yet. Make one, then start again: energy-ingest keys "
            "create --scope ingest,read,admin --name ops (with the same DATABASE_URL; it is "
            "printed once). Or bind to 127.0.0.1.")
