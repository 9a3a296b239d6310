"""Schemathesis against a live server: every operation of its /openapi.json, positive and
negative data, a few examples each; the failures of every operation are gathered."""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from processor.domain.readings import DEVICE_ID_PATTERN
from tests.helpers import uid

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
RUN = uid()
EXAMPLES = 10  # per operation and mode


def unique_devices(body: Any) -> Any:
    """Give every valid device id in a generated body a name of its own.

    The worker is shared by the whole session: generated readings must not land on other
    tests' devices, nor on each other's (one device, one generated reading).
    """
    if isinstance(body, list):
        return [unique_devices(item) for item in body]
    if isinstance(body, dict):
        out = {k: unique_devices(v) for k, v in body.items()}
        for key in ("meterId", "vehicleId"):
            value = out.get(key)
            if isinstance(value, str) and DEVICE_ID.fullmatch(value):
                out[key] = f"st-{RUN}-{uid()}"
        return out
    return body


def contract_failures(url: str, headers: dict[str, str] | None = None,
                      checks: list[Any] | None = None) -> tuple[int, list[str]]:
    """(operations run, failures) of the API at ``url``; ``headers`` go with every request."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def call(case: Any) -> None:
                if case.body is not None and not isinstance(case.body, bytes | str):
                    case.body = unique_devices(case.body)
                case.call_and_validate(checks=checks or CHECKS, headers=headers, timeout=30)

            try:
                call()
            except Unsatisfiable:
                pass  # nothing to negate (no parameters, or unconstrained strings)
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return len(operations), failures
