"""The fleet a page at a time: search, status filter, sort and paging over the fleet's rows, and
the summary band (vehicles per status, fleet-wide efficiency, a histogram of efficiencies).

Done in the worker over its fleet snapshot (``processor/web/efficiency.py``), not in SQL: the
snapshot is already in memory, and 10,000 rows filter and sort in a few milliseconds, while the
fleet query costs PostgreSQL seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from processor.domain.efficiency import fmt_percent

STATUSES = ("low_efficiency", "ok", "idle", "no_meter_linked", "no_data")
JUDGED = frozenset({"low_efficiency", "ok"})
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_Q = 100
PAGING_PARAMS = ("limit", "offset", "sort", "q", "status")

# Histogram of the judged vehicles' efficiencies: 5-point bins from 50% to 110%, plus one below
# and one above (a ratio over 100% is a metering error worth seeing).
HIST_LOW, HIST_HIGH, HIST_STEP = 50, 110, 5


def _number(field: str) -> Callable[[dict[str, Any]], float | None]:
    def value(row: dict[str, Any]) -> float | None:
        raw = row.get(field)
        if raw is None or raw == "N/A":
            return None
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None
    return value


def _text(field: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda row: row.get(field)


# sort name -> the row's value (None sorts last either way)
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "vehicleId": _text("vehicleId"), "meterId": _text("meterId"), "status": _text("status"),
    "lastSeen": _text("lastSeen"), "efficiency": _number("efficiencyRatio"),
    "soc": _number("soc"), "batteryTemp": _number("batteryTemp"),
    "totalAcConsumed": _number("totalAcConsumed"),
    "totalDcDelivered": _number("totalDcDelivered"),
}
DEFAULT_SORT = "worst"  # the snapshot's own order: flagged first, each worst first
SORTS = (DEFAULT_SORT, *SORT_KEYS)


class QueryError(ValueError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"invalid '{field}': {detail}")
        self.field = field
        self.detail = detail


@dataclass(frozen=True)
class FleetQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: str = DEFAULT_SORT
    descending: bool = False
    q: str = ""
    statuses: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "offset": self.offset,
                "sort": f"{'-' if self.descending else ''}{self.sort}", "q": self.q,
                "status": [s for s in STATUSES if s in self.statuses]}


def wants_page(params: Mapping[str, str]) -> bool:
    return any(name in params for name in PAGING_PARAMS)


def _whole(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(name, f"{raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise QueryError(name, f"{value} is not between {lo} and {hi}")
    return value


def parse_query(params: Mapping[str, str]) -> FleetQuery:
    """The page asked for; raises QueryError naming the parameter."""
    limit = _whole(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _whole(params, "offset", 0, 0, 10_000_000)
    sort = params.get("sort", DEFAULT_SORT).strip() or DEFAULT_SORT
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in SORTS:
        raise QueryError("sort", f"{sort!r} is not one of {', '.join(SORTS)} (prefix - for "
                                 "descending)")
    q = params.get("q", "").strip()
    if len(q) > MAX_Q:
        raise QueryError("q", f"at most {MAX_Q} characters")
    wanted = {s.strip() for s in params.get("status", "").split(",") if s.strip()}
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise QueryError("status", f"{', '.join(unknown)}: the statuses are "
                                   f"{', '.join(STATUSES)}")
    return FleetQuery(limit, offset, name, descending, q, frozenset(wanted))


def select(rows: Sequence[dict[str, Any]], query: FleetQuery
           ) -> tuple[int, list[dict[str, Any]]]:
    """(how many rows match, the page of them). ``rows`` in the default (worst first) order."""
    needle = query.q.casefold()
    found = [r for r in rows
             if (not query.statuses or r.get("status") in query.statuses)
             and (not needle or needle in str(r.get("vehicleId", "")).casefold()
                  or needle in str(r.get("meterId") or "").casefold())]
    if query.sort != DEFAULT_SORT:
        value = SORT_KEYS[query.sort]
        present = [r for r in found if value(r) is not None]
        absent = [r for r in found if value(r) is None]
        # stable: ties keep the worst-first order
        present.sort(key=value, reverse=query.descending)
        found = present + absent
    elif query.descending:
        found.reverse()
    return len(found), found[query.offset:query.offset + query.limit]


def summary(rows: Sequence[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """The fleet as a whole: vehicles per status; the efficiency of the judged vehicles taken
    together (their DC over their AC: idle ones would count a parked car's standby as loss);
    and how their efficiencies spread, with the threshold."""
    counts = Counter(r.get("status") for r in rows)
    judged = [r for r in rows if r.get("status") in JUDGED and
              r.get("efficiencyRatio") is not None]
    ac_of, dc_of = SORT_KEYS["totalAcConsumed"], SORT_KEYS["totalDcDelivered"]
    ac = sum(ac_of(r) or 0.0 for r in judged)
    dc = sum(dc_of(r) or 0.0 for r in judged)
    ratio = dc / ac if ac > 0 else None
    edges = list(range(HIST_LOW, HIST_HIGH + 1, HIST_STEP))
    bins = [0] * (len(edges) + 1)  # below the first edge, each step, from the last edge
    for r in judged:
        percent = float(r["efficiencyRatio"]) * 100
        if percent < HIST_LOW:
            bins[0] += 1
        elif percent >= HIST_HIGH:
            bins[-1] += 1
        else:
            bins[1 + int((percent - HIST_LOW) // HIST_STEP)] += 1
    histogram = [{"from": None, "to": HIST_LOW, "count": bins[0]}]
    histogram += [{"from": lo, "to": lo + HIST_STEP, "count": bins[1 + i]}
                  for i, lo in enumerate(edges[:-1])]
    histogram.append({"from": HIST_HIGH, "to": None, "count": bins[-1]})
    return {"statusCounts": {s: counts.get(s, 0) for s in STATUSES},
            "vehicles": len(rows), "judged": len(judged),
            "totalAcConsumed": round(ac, 2), "totalDcDelivered": round(dc, 2),
            "efficiencyRatio": ratio,
            "efficiency": fmt_percent(ratio),
            "thresholdPercent": round(threshold * 100, 2),
            "histogram": histogram}
