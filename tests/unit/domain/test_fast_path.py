"""Routed lines: the plain fast path gives exactly what the models give, and refuses the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from annotated_types import Ge
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from benchmarks.fleet_input import generate
from processor.domain.fast_path import PLAIN, _bounds, earliest_ts, latest_ts, line_of
from processor.domain.validation import validate_message, validate_reading

NOW = datetime(2026, 2, 10, 20, 0, tzinfo=UTC)

IDS = st.one_of(
    st.sampled_from(["M1", "V-1", "a.b:c_d-e", "x" * 64, "x" * 65, "", "M1\n", "Ü", "a b",
                     None, 5, True]),
    st.text(max_size=70),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**20, max_value=10**20),
    st.sampled_from([0, 0.0, -0.0, 1e-300, 100, 100.00000000000001, 2000, 2000.0001, -60,
                     -60.5, 150, 10_000, 10_000.0, 10_000.5, True, False, None, "1.5", [1]]),
)
TIMESTAMPS = st.one_of(
    st.sampled_from(["2026-02-10T19:00:00Z", "2026-02-10T19:00:00.5+02:00",
                     "2026-02-10T20:04:59Z", "2026-02-10T20:05:01Z", "2026-02-10T19:00:00",
                     "2026-02-10T20:05:00Z", "2026-02-10T20:05:00.000001Z",
                     "2026-02-10T22:05:00.000001+02:00", "2026-02-10T20:04:59.999999Z",
                     "2026-02-10 19:00:00+00:00", "0001-01-01T00:00:00+14:00", "yesterday",
                     "", None, 1_770_750_000, True, "0001-01-01T00:00:00Z",
                     "1900-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z",
                     "2000-01-01T00:00:00Z", "2000-01-01T01:00:00+01:00",
                     "2000-01-01T00:59:59.999999+01:00"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)
FIELDS = {
    "type": st.sampled_from(["meter", "vehicle", "batch", None, "METER"]),
    "meterId": IDS, "vehicleId": IDS, "kwhConsumedAc": NUMBERS, "voltage": NUMBERS,
    "soc": NUMBERS, "kwhDeliveredDc": NUMBERS, "batteryTemp": NUMBERS, "timestamp": TIMESTAMPS,
    "colour": st.just("red"),
}
VALID = {
    "meter": {"type": "meter", "meterId": "M1", "kwhConsumedAc": 10.5, "voltage": 220,
              "timestamp": "2026-02-10T19:00:00Z"},
    "vehicle": {"type": "vehicle", "vehicleId": "V1", "soc": 75, "kwhDeliveredDc": 8.5,
                "batteryTemp": 32, "meterId": "M1", "timestamp": "2026-02-10T19:00:00Z"},
}


@st.composite
def readings(draw: st.DrawFn) -> Any:
    """A valid reading with some fields replaced, dropped or added: mostly near the edges."""
    item = dict(VALID[draw(st.sampled_from(["meter", "vehicle"]))])
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3)):
        if draw(st.booleans()):
            item[name] = draw(FIELDS[name])
        else:
            item.pop(name, None)
    return item


@settings(max_examples=3000, deadline=None)
@given(st.lists(readings(), min_size=1, max_size=4))
def test_lines_are_what_the_models_give_reading_for_reading(items: list[Any]) -> None:
    raw = json.dumps(items).encode()
    by_models = validate_message(raw, NOW)
    as_lines = validate_message(raw, NOW, as_lines=True)
    assert as_lines.lines == [line_of(r) for r in by_models.readings]
    assert as_lines.rejections == by_models.rejections
    assert as_lines.readings == []


@settings(max_examples=3000, deadline=None)
@given(readings())
def test_the_plain_path_accepts_only_what_the_models_accept(item: dict[str, Any]) -> None:
    kind = "vehicle" if "vehicleId" in item else "meter"
    line = PLAIN[kind](item, earliest_ts(), latest_ts(NOW))
    if line is not None:
        model = validate_reading(item, NOW)
        assert not isinstance(model, tuple), f"plain path accepted {item!r}: {model}"
        assert line == line_of(model)


def test_plainly_valid_readings_take_the_plain_path() -> None:
    """The simulator's readings and the seed's payloads never need a model."""
    fleet = generate(20, 3, datetime(2026, 2, 10, 18, tzinfo=UTC)).readings
    shapes = [*fleet, *VALID.values(), {**VALID["vehicle"], "meterId": None},
              {k: v for k, v in VALID["meter"].items() if k != "type"},
              {**VALID["meter"], "kwhConsumedAc": 0, "voltage": 2000.0}]
    for item in shapes:
        kind = "vehicle" if "vehicleId" in item else "meter"
        assert PLAIN[kind](item, earliest_ts(), latest_ts(NOW)) is not None, item


def test_a_model_whose_bounds_changed_stops_the_plain_path() -> None:
    class Changed(BaseModel):
        soc: float = Field(gt=0, le=100, allow_inf_nan=False)

    with pytest.raises(RuntimeError, match="update processor/domain/fast_path.py"):
        _bounds(Changed, "soc", Ge)  # type: ignore[arg-type]


@settings(max_examples=1000, deadline=None)
@given(st.lists(readings(), min_size=1, max_size=4),
       st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2026, 3, 1),
                    timezones=st.just(UTC)))
def test_lines_are_what_the_models_give_at_any_floor(items: list[Any], floor: datetime) -> None:
    raw = json.dumps(items).encode()
    by_models = validate_message(raw, NOW, earliest=floor)
    as_lines = validate_message(raw, NOW, as_lines=True, earliest=floor)
    assert as_lines.lines == [line_of(r) for r in by_models.readings]
    assert as_lines.rejections == by_models.rejections


def test_the_plain_path_leaves_readings_before_the_floor_to_the_models() -> None:
    floor = earliest_ts(datetime(2026, 2, 10, 19, tzinfo=UTC))
    for kind, item in VALID.items():
        model = validate_reading(item, NOW)
        assert not isinstance(model, tuple)
        # 19:00:00Z, the floor itself: valid, and the same line as the model's
        assert PLAIN[kind](item, floor, latest_ts(NOW)) == line_of(model)
        assert PLAIN[kind](item, floor + 1, latest_ts(NOW)) is None
        early = {**item, "timestamp": "1999-12-31T23:59:59.999999Z"}
        assert PLAIN[kind](early, earliest_ts(), latest_ts(NOW)) is None
        assert PLAIN[kind]({**item, "timestamp": "2000-01-01T00:00:00Z"}, earliest_ts(),
                           latest_ts(NOW)) is not None
