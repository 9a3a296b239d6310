"""Fixtures of the Kafka security tests."""

from __future__ import annotations

import shutil

import pytest

from tests.pki import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a broker certificate and a client certificate, made once per session."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make a throwaway CA and certificates with")
    return make_pki(tmp_path_factory.mktemp("pki"))
