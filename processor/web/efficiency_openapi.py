"""OpenAPI entries of the analytics and fleet endpoints (see ``processor/web/openapi.py``)."""

from __future__ import annotations

from typing import Any

from processor.domain.fleet_pages import DEFAULT_LIMIT, MAX_LIMIT, MAX_Q, SORTS, STATUSES
from processor.domain.readings import DEVICE_ID_PATTERN
from processor.web.openapi import describe

JSON = "application/json"
NUMBER_OR_NULL = {"type": ["number", "null"]}
STRING_OR_NULL = {"type": ["string", "null"]}
WINDOW = {"type": "object", "required": ["start", "end"],
          "description": "[start, end): the 24 hours up to now or ?at= (requestedEnd), ended "
                         "earlier at the joint watermark of the vehicle and its meter (just "
                         "after the older of their last written readings; limitedBy names that "
                         "side) while one of them lags",
          "properties": {"start": {"type": "string"}, "end": {"type": "string"},
                         "requestedEnd": {"type": "string"},
                         "limitedBy": {"enum": ["meter", "vehicle", None]}}}
STATUS = {"enum": ["ok", "low_efficiency", "idle", "no_meter_linked", "no_data"],
          "description": "idle: less AC than MIN_CHARGE_KWH in the window, too little "
                         "charging to judge (shown, never alerted)"}
STATUS_REASON = {"type": "string", "description": "why the status, in words"}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
VEHICLE_ID = {"name": "vehicle_id", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN}}
AT = {"name": "at", "in": "query", "required": False, "schema": {"type": "string"},
      "description": "end of the 24-hour window, ISO-8601 (default now)"}

PERFORMANCE = {
    "type": "object",
    "required": ["vehicleId", "period", "metrics", "meterId", "link", "window", "status"],
    "properties": {
        "vehicleId": {"type": "string"},
        "period": {"const": "24 hours"},
        "metrics": {"type": "object",
                    "required": ["totalAcConsumed", "totalDcDelivered", "efficiency",
                                 "averageBatteryTemp"],
                    "properties": {k: {"type": "string"} for k in (
                        "totalAcConsumed", "totalDcDelivered", "efficiency",
                        "averageBatteryTemp")}},
        "meterId": STRING_OR_NULL,
        "link": {"enum": ["explicit", "inferred", None]},
        "window": WINDOW,
        "status": STATUS,
        "statusReason": STATUS_REASON,
        "threshold": {"type": "number"},
        "minChargeKwh": {"type": "number"},
        "readings": {"type": "object"},
    },
}
HOURLY = {
    "type": "object", "required": ["vehicleId", "window", "hours", "efficiency"],
    "properties": {
        "vehicleId": {"type": "string"}, "meterId": STRING_OR_NULL, "window": WINDOW,
        "efficiency": {"type": "string"},
        "hours": {"type": "array", "items": {
            "type": "object", "required": ["start", "end", "acKwh", "dcKwh"],
            "properties": {"start": {"type": "string"}, "end": {"type": "string"},
                           "acKwh": {"type": "number"}, "dcKwh": {"type": "number"},
                           "efficiencyRatio": {
                               "type": ["number", "null"],
                               "description": "null when the hour charged too little to say "
                                              "(less AC than MIN_CHARGE_KWH / 24)"},
                           "efficiency": {"type": "string"}}}},
    },
}
FLEET = {
    "type": "object", "required": ["period", "window", "threshold", "count", "vehicles"],
    "properties": {
        "period": {"const": "24 hours"}, "window": WINDOW, "threshold": {"type": "number"},
        "minChargeKwh": {"type": "number"},
        "statusCounts": {"type": "object", "additionalProperties": {"type": "integer"},
                         "description": "vehicles per status"},
        "count": {"type": "integer", "description": "vehicles in the fleet"},
        "computedAt": {"type": "string"},
        "summary": {
            "type": "object", "description": "the fleet as a whole (every vehicle, whatever "
                                            "the page)",
            "required": ["statusCounts", "efficiency", "efficiencyRatio", "histogram"],
            "properties": {
                "statusCounts": {"type": "object", "additionalProperties": {"type": "integer"}},
                "vehicles": {"type": "integer"},
                "judged": {"type": "integer", "description": "ok and low_efficiency ones"},
                "totalAcConsumed": {"type": "number"}, "totalDcDelivered": {"type": "number"},
                "efficiencyRatio": NUMBER_OR_NULL,
                "efficiency": {"type": "string", "description": "the judged vehicles' DC over "
                                                                "their AC, taken together"},
                "thresholdPercent": {"type": "number"},
                "histogram": {"type": "array", "items": {
                    "type": "object", "required": ["from", "to", "count"],
                    "properties": {"from": NUMBER_OR_NULL, "to": NUMBER_OR_NULL,
                                   "count": {"type": "integer"}},
                    "description": "judged vehicles per efficiency bin, percent [from, to); "
                                   "null: open-ended"}}}},
        "total": {"type": "integer", "description": "with paging: the vehicles that match q "
                                                    "and status"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "sort": {"type": "string"}, "q": {"type": "string"},
        "status": {"type": "array", "items": STATUS},
        "vehicles": {"type": "array", "items": {
            "type": "object",
            "required": ["vehicleId", "meterId", "efficiency", "efficiencyRatio", "status"],
            "properties": {"vehicleId": {"type": "string"}, "meterId": STRING_OR_NULL,
                           "efficiency": {"type": "string"},
                           "efficiencyRatio": NUMBER_OR_NULL,
                           "status": STATUS, "statusReason": STATUS_REASON,
                           "windowEnd": STRING_OR_NULL, "alert": {"type": "boolean"}}}},
    },
}


PAGING = [
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
     "description": f"vehicles in the page (default {DEFAULT_LIMIT}); any paging parameter "
                    "turns paging on"},
    {"name": "offset", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000},
     "description": "vehicles skipped before the page"},
    {"name": "sort", "in": "query", "required": False,
     "schema": {"enum": [*SORTS, *(f"-{s}" for s in SORTS)]},
     "description": "worst (default: low efficiency first, then ok, each worst first, then "
                    "idle and the rest) or a column; - descending; missing values last"},
    {"name": "q", "in": "query", "required": False,
     "schema": {"type": "string", "maxLength": MAX_Q},
     "description": "part of a vehicle or meter id, any case"},
    {"name": "status", "in": "query", "required": False,
     "schema": {"type": "string", "pattern": f"^({'|'.join(STATUSES)})(,({'|'.join(STATUSES)}))*$"},
     "description": "only these statuses, comma-separated"},
]


def body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def describe_analytics() -> None:
    describe("/v1/analytics/performance/{vehicle_id}", "get", {
        "summary": "A vehicle's charging efficiency over 24 hours (the seed's response)",
        "parameters": [VEHICLE_ID, AT],
        "responses": {"200": body(PERFORMANCE, "figures of the window"),
                      "400": body(ERROR, "invalid at"), "404": body(ERROR, "unknown vehicle")}})
    describe("/v1/analytics/performance/{vehicle_id}/hourly", "get", {
        "summary": "The same window cut at whole hours: AC against DC per hour",
        "description": "The whole hours inside the hourly tables' window come from the Faust "
                       "tables of the workers owning the vehicle's and its meter's partitions "
                       "(the rollups' very numbers), the rest from PostgreSQL. X-Live-Source: "
                       "table says the tables answered; sent with X-Live-Source: postgresql, "
                       "PostgreSQL answers everything.",
        "parameters": [VEHICLE_ID, AT],
        "responses": {"200": body(HOURLY, "hourly figures"),
                      "400": body(ERROR, "invalid at"), "404": body(ERROR, "unknown vehicle")}})
    describe("/v1/analytics/fleet", "get", {
        "summary": "Every vehicle's 24-hour figures: low efficiency first, then ok (each worst "
                   "first), then idle and those without a figure",
        "parameters": [AT, {"name": "maxAge", "in": "query", "required": False,
                            "schema": {"type": "number", "minimum": 0},
                            "description": "oldest snapshot accepted, seconds (0: compute); "
                                           "without it, a snapshot up to FLEET_STALE_SECONDS "
                                           "old is served while a fresh one is computed"},
                       *PAGING],
        "responses": {"200": body(FLEET, "the fleet, or one page of it (with any of limit, "
                                         "offset, sort, q and status: total says how many "
                                         "match)"),
                      "400": body(ERROR, "invalid at, maxAge, limit, offset, sort, q or "
                                         "status (field names it)")}})
    episode = {"type": "object", "required": ["vehicleId", "crossedAt", "recoveredAt"],
               "properties": {"vehicleId": {"type": "string"}, "meterId": STRING_OR_NULL,
                              "crossedAt": {"type": "string"}, "recoveredAt": STRING_OR_NULL,
                              "endedBy": {"enum": ["recovered", "idle", None]},
                              "efficiency": {"type": "string"},
                              "efficiencyRatio": NUMBER_OR_NULL,
                              "recoveredEfficiency": STRING_OR_NULL,
                              "threshold": {"type": "number"}}}
    describe("/v1/alerts/history", "get", {
        "summary": "Alert events as published on alerts.efficiency, newest first, and the "
                   "episodes they make (crossed below the threshold, recovered or closed as "
                   "idle)",
        "parameters": [
            {"name": "vehicleId", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN},
             "description": "one vehicle's only"},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
             "description": "events at most (default 200)"}],
        "responses": {"200": body({"type": "object", "required": ["events", "episodes"],
                                   "properties": {"vehicleId": STRING_OR_NULL,
                                                  "events": {"type": "array"},
                                                  "episodes": {"type": "array",
                                                               "items": episode}}},
                                  "the events and episodes"),
                      "400": body(ERROR, "invalid vehicleId or limit")}})
    describe("/v1/alerts", "get", {
        "summary": "Vehicles whose 24-hour efficiency is below the threshold now",
        "responses": {"200": body({"type": "object", "required": ["alerts"],
                                   "properties": {"alerts": {"type": "array"}}},
                                  "active alerts")}})
    describe("/v1/fleet/vehicles/{vehicle_id}/meter", "put", {
        "summary": "Link a vehicle to the meter of its charger, from now on",
        "parameters": [VEHICLE_ID],
        "requestBody": {"required": True, "content": {JSON: {"schema": {
            "type": "object", "required": ["meterId"], "additionalProperties": False,
            "properties": {"meterId": {"type": "string", "pattern": DEVICE_ID_PATTERN}}}}}},
        "responses": {"200": body({"type": "object", "required": ["vehicleId", "meterId"],
                                   "properties": {"vehicleId": {"type": "string"},
                                                  "meterId": {"type": "string"},
                                                  "validFrom": {"type": "string"},
                                                  "source": {"const": "api"}}}, "linked"),
                      "400": body(ERROR, "body is not JSON"),
                      "422": body(ERROR, "invalid vehicleId or meterId")}})
