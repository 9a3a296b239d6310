"""The fleet a page at a time: search, filter, sort, paging and the summary band."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processor.domain.efficiency import sort_worst_first
from processor.domain.fleet_pages import (
    STATUSES,
    FleetQuery,
    QueryError,
    parse_query,
    select,
    summary,
    wants_page,
)


def row(vid: str, status: str, ratio: float | None, ac: float = 10.0, meter: str | None = None,
        soc: float | None = 50.0) -> dict[str, Any]:
    dc = ac * ratio if ratio is not None else 0.0
    return {"vehicleId": vid, "meterId": meter or f"M-{vid[2:]}", "status": status,
            "efficiencyRatio": ratio, "totalAcConsumed": f"{ac:.2f}",
            "totalDcDelivered": f"{dc:.2f}", "soc": soc, "batteryTemp": 30.0,
            "lastSeen": "2026-03-01T00:00:00Z"}


FLEET = sort_worst_first([
    row("V-001", "ok", 0.90), row("V-002", "low_efficiency", 0.70), row("V-003", "idle", 0.0),
    row("V-004", "ok", 0.95, soc=None), row("V-005", "low_efficiency", 0.80),
    row("V-006", "no_meter_linked", None, meter="-"), row("V-017", "ok", 1.12),
])


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["vehicleId"] for r in rows]


def test_the_default_page_is_the_worst_first_order() -> None:
    total, page = select(FLEET, parse_query({"limit": "3"}))
    assert total == 7 and ids(page) == ["V-002", "V-005", "V-001"]
    total, page = select(FLEET, parse_query({"limit": "3", "offset": "6"}))
    assert total == 7 and ids(page) == ["V-006"]


def test_search_finds_vehicle_or_meter_ids_in_any_case() -> None:
    total, page = select(FLEET, parse_query({"q": "v-00"}))
    assert total == 6 and "V-017" not in ids(page)
    total, page = select(FLEET, parse_query({"q": "17"}))
    assert total == 1 and ids(page) == ["V-017"]
    total, page = select(FLEET, parse_query({"q": "m-005"}))
    assert total == 1 and ids(page) == ["V-005"]


def test_status_filter_takes_several_statuses() -> None:
    total, page = select(FLEET, parse_query({"status": "low_efficiency,idle"}))
    assert total == 3 and ids(page) == ["V-002", "V-005", "V-003"]


def test_sorting_by_a_column_puts_missing_values_last_either_way() -> None:
    _, up = select(FLEET, parse_query({"sort": "efficiency"}))
    assert ids(up) == ["V-003", "V-002", "V-005", "V-001", "V-004", "V-017", "V-006"]
    _, down = select(FLEET, parse_query({"sort": "-efficiency"}))
    assert ids(down) == ["V-017", "V-004", "V-001", "V-005", "V-002", "V-003", "V-006"]
    _, by_soc = select(FLEET, parse_query({"sort": "-soc"}))
    assert ids(by_soc)[-1] == "V-004"
    _, by_id = select(FLEET, parse_query({"sort": "-vehicleId"}))
    assert ids(by_id) == sorted(ids(FLEET), reverse=True)


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "x"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"sort": "speed"}, "sort"), ({"q": "x" * 101}, "q"),
    ({"status": "ok,broken"}, "status"),
])
def test_a_bad_parameter_is_named(params: dict[str, str], field: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(params)
    assert caught.value.field == field and field in str(caught.value)


def test_paging_is_on_with_any_paging_parameter_only() -> None:
    assert not wants_page({"at": "2026-03-01T00:00:00Z", "maxAge": "0"})
    assert all(wants_page({name: ""}) for name in ("limit", "offset", "sort", "q", "status"))


@given(st.dictionaries(st.sampled_from(["limit", "offset", "sort", "q", "status"]), st.text()))
def test_any_parameters_give_a_page_or_a_named_error(params: dict[str, str]) -> None:
    try:
        query = parse_query(params)
    except QueryError as exc:
        assert exc.field in params
        return
    total, page = select(FLEET, query)
    assert len(page) <= query.limit and total <= len(FLEET)
    assert all(query.q.casefold() in (r["vehicleId"] + r["meterId"]).casefold() or
               query.q.casefold() in r["meterId"].casefold() for r in page)


def test_the_summary_takes_the_judged_vehicles_together() -> None:
    band = summary(FLEET, 0.85)
    assert band["statusCounts"] == {"low_efficiency": 2, "ok": 3, "idle": 1,
                                    "no_meter_linked": 1, "no_data": 0}
    assert band["judged"] == 5 and band["vehicles"] == 7
    assert band["totalAcConsumed"] == 50.0
    assert band["totalDcDelivered"] == pytest.approx(9 + 7 + 9.5 + 8 + 11.2)
    assert band["efficiency"] == "89.40%"
    counts = {(b["from"], b["to"]): b["count"] for b in band["histogram"]}
    assert counts[(70, 75)] == 1 and counts[(80, 85)] == 1 and counts[(90, 95)] == 1
    assert counts[(95, 100)] == 1 and counts[(110, None)] == 1 and counts[(None, 50)] == 0
    assert sum(counts.values()) == 5
    assert band["thresholdPercent"] == 85.0


def test_an_empty_fleet_has_no_efficiency() -> None:
    band = summary([], 0.85)
    assert band["efficiency"] == "N/A" and band["efficiencyRatio"] is None
    assert set(band["statusCounts"]) == set(STATUSES)


def test_the_query_says_what_it_was() -> None:
    query = FleetQuery(10, 20, "soc", True, "V-1", frozenset({"idle", "ok"}))
    assert query.as_dict() == {"limit": 10, "offset": 20, "sort": "-soc", "q": "V-1",
                               "status": ["ok", "idle"]}
