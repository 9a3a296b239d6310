"""PostgreSQL over TLS: the system's own paths (the start-up check, the migration, the writers'
async connection) reach PostgreSQL with ``sslmode=require`` and ``sslmode=verify-full``, and a
server certificate the client cannot trust is refused with a clear error.

The embedded PostgreSQL (the pgserver wheel) is built without OpenSSL ("SSL is not supported by
this build"), so TLS is terminated in front of it, the way PostgreSQL itself does it: a small
proxy on 127.0.0.1 answers the client's SSLRequest with ``S``, completes the TLS handshake with
a throwaway CA's certificate, and passes the protocol on to the server's Unix socket. The TLS
the client speaks (libpq, through psycopg) is the real thing; only the server side is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import struct
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from db.batch_writes import connect
from db.migrate import migrate
from processor.errors import StartupError
from processor.ops.startup import require_database
from tests.conftest import Services
from tests.pki import Pki, make_pki
from tests.tls_front import both_ways, serving

pytestmark = pytest.mark.integration

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104  # the request codes of the PostgreSQL protocol


@contextlib.contextmanager
def tls_terminator(context: ssl.SSLContext, socket: str) -> Iterator[int]:
    """A TLS front for the PostgreSQL listening on Unix socket ``socket``; gives its port."""
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:  # SSLRequest (after a GSSENCRequest, which is declined)
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if code == GSSENC_REQUEST:
                writer.write(b"N")
                continue
            break
        if code != SSL_REQUEST:  # a client that does not ask for TLS: refused here
            writer.close()
            return
        writer.write(b"S")
        await writer.drain()
        await writer.start_tls(context)
        await both_ways((reader, writer), await asyncio.open_unix_connection(socket))

    with serving(serve) as port:
        yield port


@pytest.fixture
def tls_postgres(services: Services, tmp_path: Path) -> Iterator[tuple[int, Pki]]:
    """(port on 127.0.0.1, pki): the session's PostgreSQL behind TLS."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a throwaway CA and certificates with")
    pki = make_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.broker_cert, pki.broker_key)  # CN and SAN: localhost
    socket_dir = conninfo_to_dict(services.dsn)["host"]
    with tls_terminator(context, f"{socket_dir}/.s.PGSQL.5432") as port:
        yield port, pki


def encrypted(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.pgconn.ssl_in_use


def test_the_system_reaches_postgresql_over_tls(tls_postgres: tuple[int, Pki]) -> None:
    port, pki = tls_postgres
    required = make_conninfo("postgresql://postgres@127.0.0.1/postgres", port=port,
                             sslmode="require")
    verified = make_conninfo("postgresql://postgres@localhost/postgres", port=port,
                             sslmode="verify-full", sslrootcert=str(pki.ca))
    assert encrypted(required) and encrypted(verified)
    with pytest.raises(psycopg.OperationalError):  # the front speaks TLS only
        psycopg.connect(make_conninfo(required, sslmode="disable"), connect_timeout=5)

    require_database(verified)
    migrate(verified, ahead_days=0, behind_days=0)

    async def writers_connection() -> bool:  # the writers' connection, async
        conn = await connect(verified)
        async with conn:
            await conn.execute("SELECT count(*) FROM meter_history")
            return conn.pgconn.ssl_in_use

    assert asyncio.run(writers_connection())

    # A certificate the client cannot trust, or one for another name, is refused in one line.
    with pytest.raises(StartupError, match="cannot reach PostgreSQL at .*certificate verify"):
        require_database(make_conninfo(verified, sslrootcert=str(pki.other_ca)))
    with pytest.raises(StartupError, match="cannot reach PostgreSQL at .*does not match host"):
        require_database(make_conninfo(verified, host="127.0.0.1"))  # it names localhost
