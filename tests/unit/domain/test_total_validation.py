"""Validation is total: whatever bytes arrive, a verdict, never an exception.

Any JSON value in any position (a reading's every field and its ``type``, the batch envelope
and its ``readings``, the message as a whole), and bytes that are not JSON at all. Each
reading ends as a valid line or as a rejection with a reason; the plain fast path and the
models agree; the HTTP ingest path answers a 4xx or a plan, never raises.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.domain.fast_path import line_of
from processor.domain.http_ingest import Plan, Reply, plan
from processor.domain.validation import INTERNAL_ERROR, readings_of, validate_message

NOW = datetime(2026, 2, 10, 20, 0, tzinfo=UTC)

# Any JSON value, nested: what a producer we did not write may send in any position.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63, max_value=2**70),
    st.floats(), st.text(max_size=12),
    st.sampled_from(["meter", "vehicle", "batch", "M1", "2026-02-10T19:00:00Z", ""]))
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=10)

GOOD = {
    "type": "vehicle", "vehicleId": "V1", "meterId": "M1", "soc": 75, "kwhDeliveredDc": 8.5,
    "batteryTemp": 32, "kwhConsumedAc": 10.5, "voltage": 220,
    "timestamp": "2026-02-10T19:00:00Z",
}
FIELDS = sorted(GOOD)


@st.composite
def readings(draw: st.DrawFn) -> Any:
    """A reading-shaped object: each field kept plausible, replaced by any JSON value, or
    dropped; sometimes an unknown field; sometimes not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(ANY_JSON)
    kind = draw(st.sampled_from(["meter", "vehicle"]))
    names = (["type", "meterId", "kwhConsumedAc", "voltage", "timestamp"] if kind == "meter"
             else ["type", "vehicleId", "meterId", "soc", "kwhDeliveredDc", "batteryTemp",
                   "timestamp"])
    item: dict[str, Any] = {}
    for name in names:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue
        item[name] = draw(ANY_JSON) if choice == 1 else GOOD[name]
    if kind == "meter" and "type" in item and item["type"] == "vehicle":
        item["type"] = "meter"
    if draw(st.integers(0, 6)) == 0:
        item[draw(st.sampled_from([*FIELDS, "extra"]))] = draw(ANY_JSON)
    return item


def documents() -> st.SearchStrategy[Any]:
    """A message: one reading, an array, the batch envelope with anything in it, or any JSON."""
    one = readings()
    return st.one_of(
        one, one,
        st.lists(one, max_size=5),
        st.fixed_dictionaries({"type": st.just("batch"), "readings": st.lists(one, max_size=4)}),
        st.fixed_dictionaries({"type": ANY_JSON, "readings": ANY_JSON}),
        st.fixed_dictionaries({"type": st.just("batch"), "readings": ANY_JSON},
                              optional={"extra": ANY_JSON}),
        ANY_JSON)


def encode(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


def is_batch(document: Any) -> bool:
    return isinstance(document, list) or (isinstance(document, dict)
                                         and document.get("type") == "batch")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_every_reading_ends_valid_or_rejected_and_the_paths_agree(document: Any) -> None:
    raw = encode(document)
    by_models = validate_message(raw, NOW)
    as_lines = validate_message(raw, NOW, as_lines=True)
    # the fast path gives exactly what the models give, reading for reading
    assert as_lines.lines == [line_of(r) for r in by_models.readings]
    assert as_lines.rejections == by_models.rejections
    # nothing of ours raised (that would be an "internal error" rejection)
    assert all(r.summary != INTERNAL_ERROR for r in by_models.rejections), by_models.rejections
    assert all(r.reason for r in by_models.rejections)
    items = readings_of(document)
    if items and is_batch(document):
        # each reading of a batch is judged on its own: valid, or rejected at its index
        rejected = {r.index for r in by_models.rejections}
        assert None not in rejected
        assert len(by_models.readings) + len(rejected) == len(items)
    elif not items:
        assert not by_models.readings and len(by_models.rejections) == 1


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_http_ingest_answers_every_body_with_a_plan_or_a_4xx(document: Any) -> None:
    raw = encode(document)
    result = plan(raw, max_readings=10_000, chunk_readings=3, now=NOW)
    if isinstance(result, Reply):
        assert 400 <= result.status < 500 and result.body["accepted"] == 0
        return
    assert isinstance(result, Plan)
    published = [i for chunk in result.chunks for i in chunk.indices]
    assert sorted([*published, *result.rejected]) == list(range(result.total))
    assert not any(INTERNAL_ERROR in e.message for errs in result.rejected.values()
                   for e in errs)
    # what is published is what the router would accept, reading for reading
    for chunk in result.chunks:
        outcome = validate_message(chunk.value, NOW, as_lines=True)
        assert not outcome.rejections and len(outcome.lines) == len(chunk.indices)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_get_a_verdict(raw: bytes) -> None:
    outcome = validate_message(raw, NOW, as_lines=True)
    assert outcome.lines or outcome.rejections
    assert isinstance(plan(raw, 10_000, 500, NOW), Reply | Plan)


HOSTILE = [
    b'{"type": [], "meterId": "M1"}',  # the message that stopped all ingestion (issue 17)
    b'{"type": {"a": 1}, "vehicleId": "V1"}',
    b'[{"type": ["meter"]}, {"type": "meter", "meterId": "M1", "kwhConsumedAc": 1, '
    b'"voltage": 230, "timestamp": "2026-02-10T19:00:00Z"}]',
    b'{"type": "batch", "readings": [{"type": {}}]}',
    b'{"type": [], "readings": []}',
    b'{"meterId": ' + b"1" * 5000 + b"}",  # beyond Python's 4,300-digit int parsing limit
    b"1" * 5000,
    b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than any parser recurses
    b'{"meterId": "M1", "timestamp": "\\ud800"}',  # a lone surrogate
    b'{"kwhConsumedAc": 1e999, "meterId": "M1"}',
    b"\xff\xfe{\x00}\x00",
    b"null", b"true", b"-0", b'""', b"[]", b"{}", b"",
]


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_messages_are_rejected_with_a_reason(raw: bytes) -> None:
    outcome = validate_message(raw, NOW, as_lines=True)
    assert outcome.rejections, raw[:80]
    assert all(r.reason and r.summary != INTERNAL_ERROR for r in outcome.rejections)
    reply = plan(raw, 10_000, 500, NOW)
    if isinstance(reply, Reply):
        assert 400 <= reply.status < 500
    else:
        assert reply.rejected


def test_a_batch_with_a_hostile_reading_keeps_its_valid_neighbour() -> None:
    outcome = validate_message(HOSTILE[2], NOW, as_lines=True)
    assert [line[1] for line in outcome.lines] == ["M1"]
    assert [(r.index, r.errors[0].field) for r in outcome.rejections] == [(0, "type")]
