"""Binary COPY rows read back (processor/domain/copy_rows.py): what a writer needs to split a
batch the database refused and to word the refused readings' dead letters."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from processor.domain.copy_rows import decode_row, meter_row, micros, split_rows, vehicle_row
from processor.domain.dead_letters import REFUSED, refused_letter
from processor.domain.kinds import METER, VEHICLE

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

ids = st.text(st.sampled_from("AZaz09._:-"), min_size=1, max_size=64)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)


@given(st.lists(st.tuples(ids, numbers, numbers, st.one_of(st.none(), ids)), max_size=20))
def test_rows_split_and_decode_to_what_was_packed(readings: list) -> None:  # type: ignore[type-arg]
    rows = [vehicle_row(v, micros(T0), soc, kwh, 20.5, meter) for v, soc, kwh, meter in readings]
    assert split_rows(b"".join(rows)) == rows
    for row, (v, soc, kwh, meter) in zip(rows, readings, strict=True):
        assert decode_row(row, VEHICLE.text_columns) == [v, T0, soc, kwh, 20.5, meter]


def test_a_refused_reading_becomes_a_dead_letter_with_the_databases_message() -> None:
    row = decode_row(meter_row("M-7", micros(T0), 0.25, 1500.0), METER.text_columns)
    letter = refused_letter(METER, row, 'new row for relation "meter_history_p20261207" '
                            'violates check constraint "voltage_cap"\nDETAIL: Failing row',
                            3, (10, 12))
    import json

    record = json.loads(letter)
    assert record["reason"] == REFUSED
    assert record["errors"] == [{"field": "reading", "message": 'new row for relation '
                                 '"meter_history_p20261207" violates check constraint '
                                 '"voltage_cap"'}]
    assert json.loads(record["original"]) == {"type": "meter", "meterId": "M-7",
                                              "kwhConsumedAc": 0.25, "voltage": 1500.0,
                                              "timestamp": "2026-12-07T03:00:00Z"}
    assert record["source"] == {"topic": "telemetry.meter", "partition": 3, "offset": 10,
                                "lastOffset": 12}
    assert "DETAIL" in record["database"]
