"""The pipeline end to end over TLS to Kafka: readings posted to the gateway are published, routed
and written by a worker whose every Kafka client (Faust's aiokafka consumer and producer, the
confluent-kafka outboxes, the gateway's publisher, topic creation) speaks TLS, checking the
broker's certificate against a throwaway CA. A client without that CA is refused, saying why.

The embedded broker's own TLS flags do not work in the version shipped (``--cert`` and ``--key``
refuse to be used together; ``--cert`` alone still serves plaintext), so TLS is terminated in
front of it: it listens in plaintext on one port and advertises the TLS front's address, which
is the only one clients learn from its metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processor.ops.embedded import EmbeddedBroker, free_port
from tests.conftest import APP_ID, PARTITIONS
from tests.helpers import ROOT, http_json, query, start_worker, uid, wait_until
from tests.pki import Pki, make_pki
from tests.tls_front import both_ways, serving

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def tls_front(context: ssl.SSLContext, port: int, target: int) -> Iterator[list[int]]:
    """TLS on 127.0.0.1:``port`` in front of plaintext 127.0.0.1:``target``; gives the list of
    TLS connections completed (one entry each)."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await both_ways((reader, writer), await asyncio.open_connection("127.0.0.1", target))

    with serving(serve, port, context):
        yield accepted


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[str, Pki, list[int]]]:
    """(bootstrap of the TLS front, pki, its completed TLS connections)."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a throwaway CA and certificates with")
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.broker_cert, pki.broker_key)  # CN and SAN: localhost
    port = free_port()
    broker = EmbeddedBroker.start(tmp_path, advertised=f"tcp://localhost:{port}")
    target = int(broker.bootstrap.rsplit(":", 1)[1])
    try:
        with tls_front(context, port, target) as accepted:
            yield f"localhost:{port}", pki, accepted
    finally:
        broker.stop()


def energy_ingest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "processor.ops.cli", *args],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_the_pipeline_runs_end_to_end_over_tls(tls_broker: tuple[str, Pki, list[int]],
                                               own_database: str, tmp_path: Path) -> None:
    bootstrap, pki, accepted = tls_broker
    tls = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": str(pki.ca),
           "APP_ID": APP_ID, "TELEMETRY_PARTITIONS": str(PARTITIONS)}

    # Without the CA the broker's certificate is not trusted: refused, saying so.
    untrusted = energy_ingest("topics", env={**tls, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                                             "KAFKA_SSL_CA_FILE": str(pki.other_ca)})
    assert untrusted.returncode == 2
    last = untrusted.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: Kafka at {bootstrap} refused the connection's security: "
                           "SSL handshake failed"), untrusted.stderr
    assert "certificate verify failed" in last and "KAFKA_SSL_CA_FILE" in last, last

    made = energy_ingest("topics", env={**tls, "KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    assert made.returncode == 0, made.stderr
    worker = start_worker(bootstrap, own_database, tmp_path, **tls)
    try:
        run = uid()
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        readings: list[Any] = [
            {"vehicleId": f"VT{run}-{i % 5}", "kwhDeliveredDc": 0.5, "soc": 50, "batteryTemp": 30,
             "timestamp": (base + timedelta(minutes=i // 5)).isoformat()} for i in range(50)]
        readings += [{"meterId": f"MT{run}-{i % 5}", "kwhConsumedAc": 0.6, "voltage": 230,
                      "timestamp": (base + timedelta(minutes=i // 5)).isoformat()}
                     for i in range(50)]
        status, body = http_json(f"{worker.url}/v1/telemetry", "POST", readings)
        assert (status, body) == (202, {"accepted": 100})
        wait_until(lambda: query(own_database, "SELECT (SELECT count(*) FROM vehicle_history "
                                 "WHERE vehicle_id LIKE %s) + (SELECT count(*) FROM "
                                 "meter_history WHERE meter_id LIKE %s)",
                                 (f"VT{run}-%", f"MT{run}-%"))[0][0] == 100,
                   timeout=60, what="the readings posted over TLS in PostgreSQL")
        status, live = http_json(f"{worker.url}/v1/vehicles/VT{run}-0/live")
        assert status == 200 and live["vehicleId"] == f"VT{run}-0"
        assert worker.proc.poll() is None
    finally:
        worker.stop()
    # The worker's Faust clients, its outboxes, the gateway's publisher: all through the front.
    assert len(accepted) >= 4, accepted
