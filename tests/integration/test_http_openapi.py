"""Schemathesis against the live worker: no server error, no response outside /openapi.json.

Bounded: a few examples per operation (positive and negative data), one run well under a minute.
"""

from __future__ import annotations

import pytest

from tests.contract import contract_failures
from tests.helpers import Worker

pytestmark = pytest.mark.integration


def test_api_answers_within_its_contract(worker: Worker) -> None:
    operations, failures = contract_failures(worker.url)
    assert operations >= 8
    assert not failures, "\n\n".join(failures)
