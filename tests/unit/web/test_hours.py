"""The hours endpoint's range and document: whole hours, errors naming the parameter, and a
document another worker sends reads back as the hours it held."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from processor.domain.kinds import METER, VEHICLE
from processor.domain.recent_hours import HOUR, tables_from
from processor.web.hours import MAX_HOURS, hours_document, read_document, requested_range


def request(**query: str) -> Any:
    return SimpleNamespace(query=query)


def test_the_range_is_whole_hours_and_defaults_to_the_table_window() -> None:
    lo, hi = requested_range(request(), 48)
    now = datetime.now(UTC)
    assert lo == tables_from(48, now) or lo == tables_from(48, now - timedelta(seconds=5))
    assert hi - HOUR <= now < hi and hi.minute == hi.second == hi.microsecond == 0
    lo, hi = requested_range(request(**{"from": "2026-02-10T19:42:10+01:00",
                                        "to": "2026-02-10T21:00:01Z"}), 48)
    assert (lo, hi) == (datetime(2026, 2, 10, 18, tzinfo=UTC), datetime(2026, 2, 10, 22,
                                                                       tzinfo=UTC))
    lo, hi = requested_range(request(**{"from": "2026-02-10T19:00:00",
                                        "to": "2026-02-10T21:00:00"}), 48)
    assert hi - lo == 2 * HOUR


@pytest.mark.parametrize(("query", "name"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01T00:00:00Z"}, "to"),
    ({"from": "2026-02-10T19:00:00Z", "to": "2026-02-10T19:00:00Z"}, "to"),
    ({"from": "2026-02-10T19:00:00Z", "to": "2026-02-10T18:00:00Z"}, "to"),
    ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ({"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}, "to"),
    ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
])
def test_a_bad_range_names_its_parameter(query: dict[str, str], name: str) -> None:
    with pytest.raises(ValueError) as caught:
        requested_range(request(**query), 48)
    assert caught.value.args[0] == name


def test_the_longest_range_is_accepted() -> None:
    lo = datetime(2026, 1, 1, tzinfo=UTC)
    got = requested_range(request(**{"from": lo.isoformat(),
                                     "to": (lo + MAX_HOURS * HOUR).isoformat()}), 48)
    assert got == (lo, lo + MAX_HOURS * HOUR)


def test_a_document_reads_back_as_the_hours_it_holds() -> None:
    rng = random.Random(5)
    lo = datetime(2026, 2, 10, tzinfo=UTC)
    for kind, row in ((METER, lambda h: ("M-1", h, rng.uniform(0, 9), rng.randrange(60))),
                      (VEHICLE, lambda h: ("V-1", h, rng.uniform(0, 9), rng.uniform(0, 900),
                                           rng.randrange(60), rng.randrange(60)))):
        found = {lo + k * HOUR: kind.hour_value(row(lo + k * HOUR))
                 for k in range(24) if rng.random() < 0.5}
        document = hours_document(kind, "X-1", lo, lo + 24 * HOUR, found)
        assert [h["hour"] for h in document["hours"]] == sorted(h["hour"]
                                                                for h in document["hours"])
        assert read_document(orjson.dumps(document)) == found
