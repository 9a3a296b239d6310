"""A throwaway PKI for the TLS tests (Kafka clients, PostgreSQL): a CA, a server certificate
and a client one.

Made with the ``openssl`` command: the ``cryptography`` package is not a dependency of the
project. ``conftest.py`` makes one per session, in a temporary folder.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA's certificate: what KAFKA_SSL_CA_FILE names
    broker_cert: Path  # for "localhost", signed by the CA
    broker_key: Path
    client_cert: Path  # CN=energy-ingest, signed by the CA: KAFKA_SSL_CERT_FILE
    client_key: Path  # KAFKA_SSL_KEY_FILE
    client_key_encrypted: Path  # the same key under a passphrase
    other_ca: Path  # a CA that signed nothing here
    other_key: Path  # a key that is not the client certificate's


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True,
                   timeout=60)


def _key(folder: Path, name: str) -> None:
    _openssl(folder, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", name)


def _ca(folder: Path, name: str) -> None:
    _key(folder, f"{name}.key")
    _openssl(folder, "req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def _signed(folder: Path, name: str, subject: str, extensions: str) -> None:
    _key(folder, f"{name}.key")
    _openssl(folder, "req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr",
             "-subj", subject)
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")


def make_pki(folder: Path) -> Pki:
    """Short-lived (2 days) and made afresh: no key is kept in the repository."""
    _ca(folder, "ca")
    _ca(folder, "other-ca")
    _signed(folder, "broker", "/CN=localhost",
            "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _signed(folder, "client", "/CN=energy-ingest", "extendedKeyUsage=clientAuth\n")
    _openssl(folder, "pkey", "-in", "client.key", "-aes256", "-passout", "pass:throwaway",
             "-out", "client-encrypted.key")
    _key(folder, "other.key")
    return Pki(folder / "ca.pem", folder / "broker.pem", folder / "broker.key",
               folder / "client.pem", folder / "client.key", folder / "client-encrypted.key",
               folder / "other-ca.pem", folder / "other.key")
