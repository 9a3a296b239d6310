"""``GET /openapi.json``: the HTTP contract as data (OpenAPI 3.1).

Reading schemas come from the pydantic models the validator uses, so the document cannot drift
from the rules. Views described elsewhere add themselves with ``describe``; a route nobody
described still appears (with its path parameters and a generic response), so the document
lists every endpoint the worker serves.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from faust.web import Request, Response, View

from processor.domain.api_keys import required_scope
from processor.domain.kinds import KINDS
from processor.domain.readings import DEVICE_ID_PATTERN, MeterReading, VehicleReading
from processor.settings import Settings
from processor.stream.pipeline import Pipeline

REF = "#/components/schemas/{model}"
JSON = "application/json"

# path -> method -> operation; filled by describe() when views register.
OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}


def describe(path: str, method: str, operation: dict[str, Any]) -> None:
    OPERATIONS.setdefault(path, {})[method.lower()] = operation


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def reading_schema(model: type[MeterReading] | type[VehicleReading]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schema.pop("title", None)
    for prop in schema["properties"].values():
        prop.pop("title", None)
    return schema


def components(settings: Settings) -> dict[str, Any]:
    date_time = {"type": "string", "format": "date-time"}
    device_id = {"type": "string", "pattern": DEVICE_ID_PATTERN}
    field_error = {
        "type": "object", "required": ["field", "message"],
        "properties": {"field": {"type": "string", "description": "e.g. kwhConsumedAc"},
                       "message": {"type": "string"}},
    }
    return {
        "MeterReading": reading_schema(MeterReading),
        "VehicleReading": reading_schema(VehicleReading),
        "Reading": {"anyOf": [ref("MeterReading"), ref("VehicleReading")],
                    "description": "type may be left out: meterId or vehicleId implies it"},
        "ReadingBatch": {
            "type": "object", "required": ["type", "readings"], "additionalProperties": False,
            "properties": {"type": {"const": "batch"},
                           "readings": {"type": "array", "items": ref("Reading"),
                                        "minItems": 1,
                                        "maxItems": settings.http_max_readings}},
        },
        "Accepted": {
            "type": "object", "required": ["accepted"], "additionalProperties": False,
            "properties": {"accepted": {"type": "integer", "minimum": 0}},
        },
        "FieldError": field_error,
        "Rejected": {
            "type": "object", "required": ["index", "errors"],
            "properties": {"index": {"type": "integer", "minimum": 0,
                                     "description": "position in the request (0 for a "
                                                    "single reading)"},
                           "errors": {"type": "array", "items": ref("FieldError"),
                                      "minItems": 1}},
        },
        "IngestError": {
            "type": "object", "required": ["error", "accepted"],
            "description": "Every reading not listed in rejected was accepted (published); "
                           "when rejected is absent and accepted is 0, none was.",
            "properties": {
                "error": {"type": "string"},
                "accepted": {"type": "integer", "minimum": 0},
                "rejected": {"type": "array", "items": ref("Rejected")},
                "errors": {"type": "array", "items": ref("FieldError"),
                           "description": "problems of the body as a whole"},
            },
        },
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"}}},
        "MeterLive": {
            "type": "object", "additionalProperties": False,
            "required": ["type", "meterId", "kwhConsumedAc", "voltage", "timestamp",
                         "updatedAt"],
            "properties": {"type": {"const": "meter"}, "meterId": device_id,
                           "kwhConsumedAc": {"type": "number"}, "voltage": {"type": "number"},
                           "timestamp": date_time, "updatedAt": date_time},
        },
        "VehicleLive": {
            "type": "object", "additionalProperties": False,
            "required": ["type", "vehicleId", "soc", "kwhDeliveredDc", "batteryTemp",
                         "meterId", "timestamp", "updatedAt"],
            "properties": {"type": {"const": "vehicle"}, "vehicleId": device_id,
                           "soc": {"type": "number"}, "kwhDeliveredDc": {"type": "number"},
                           "batteryTemp": {"type": "number"},
                           "meterId": {"anyOf": [device_id, {"type": "null"}]},
                           "timestamp": date_time, "updatedAt": date_time},
        },
        "MeterHours": hours_schema("meter", "meterId", device_id, date_time, {
            "kwhConsumedAc": {"type": "number"}, "readings": {"type": "integer"}}),
        "VehicleHours": hours_schema("vehicle", "vehicleId", device_id, date_time, {
            "kwhDeliveredDc": {"type": "number"}, "batteryTempSum": {"type": "number"},
            "batteryTempCount": {"type": "integer"}, "readings": {"type": "integer"}}),
        "Readiness": {
            "type": "object", "required": ["status", "checks", "assignedPartitions"],
            "properties": {
                "status": {"enum": ["ready", "not ready"]},
                "checks": {"type": "object",
                           "required": ["database", "broker", "partitions", "agents"],
                           "additionalProperties": {"type": "string"},
                           "description": "\"ok\", or what failed"},
                "assignedPartitions": {"type": "integer", "minimum": 0},
                "failed": {"type": "array",
                           "items": {"enum": ["database", "broker", "partitions", "agents"]}},
            },
        },
    }


def hours_schema(kind: str, id_field: str, device_id: dict[str, Any], date_time: dict[str, Any],
                 totals: dict[str, Any]) -> dict[str, Any]:
    """A device's hourly totals (``processor/web/hours.py``)."""
    hour = {"type": "object", "additionalProperties": False,
            "required": ["hour", *totals], "properties": {"hour": date_time, **totals}}
    return {"type": "object", "additionalProperties": False,
            "required": ["type", id_field, "from", "to", "hours"],
            "properties": {"type": {"const": kind}, id_field: device_id, "from": date_time,
                           "to": date_time, "hours": {"type": "array", "items": hour}}}


def own_operations(settings: Settings) -> dict[str, dict[str, Any]]:
    """The endpoints of issue 4: ingestion, live state, health, readiness, metrics, this."""
    error = ref("Error")
    ingest_error = ref("IngestError")
    max_mb = settings.http_max_bytes
    operations: dict[str, dict[str, Any]] = {
        "/v1/telemetry": {"post": {
            "summary": "Ingest one reading or an array of readings",
            "description": (
                "Validates each reading, publishes the valid ones to telemetry.raw and answers "
                "once the broker acknowledged them. At most "
                f"{settings.http_max_readings} readings and {max_mb} bytes a request."),
            "requestBody": {"required": True, "content": {JSON: {"schema": {"anyOf": [
                ref("Reading"),
                {"type": "array", "items": ref("Reading"), "minItems": 1,
                 "maxItems": settings.http_max_readings},
                ref("ReadingBatch"),
            ]}}}},
            "responses": {
                "202": json_body(ref("Accepted"), "every reading accepted (broker acked)"),
                "400": json_body(ingest_error, "malformed JSON; nothing accepted"),
                "413": json_body(ingest_error, "too many bytes or readings; nothing accepted"),
                "415": json_body(ingest_error, "Content-Type is not application/json"),
                "422": json_body(ingest_error, "some or all readings invalid: rejected lists "
                                               "them by index and field, the rest were "
                                               "accepted"),
                "503": json_body(ingest_error, "the broker did not acknowledge: not accepted"),
            },
        }},
        "/healthz": {"get": {
            "summary": "Liveness: the worker's web server answers",
            "responses": {"200": json_body(
                {"type": "object", "required": ["status"],
                 "properties": {"status": {"const": "ok"}}}, "alive")},
        }},
        "/readyz": {"get": {
            "summary": "Readiness: database and broker reachable, partitions assigned, no agent "
                       "stalled",
            "responses": {"200": json_body(ref("Readiness"), "ready"),
                          "503": json_body(ref("Readiness"), "not ready; failed names why")},
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "Prometheus text format 0.0.4",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
        "/openapi.json": {"get": {
            "summary": "This document",
            "responses": {"200": json_body({"type": "object"}, "OpenAPI 3.1")},
        }},
    }
    for kind in KINDS:  # the paths live.py serves
        operations[f"/v1/{kind}s/{{id}}/live"] = {"get": {
            "summary": f"Latest state of one {kind} (the hot store)",
            "description": "Answered from the live Faust table of the worker owning the "
                           "device's partition, or from PostgreSQL while that table "
                           "recovers; the X-Live-Source header says which. Sent with "
                           "X-Live-Source: postgresql, PostgreSQL answers.",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN}}],
            "responses": {
                "200": {**json_body(ref(f"{kind.capitalize()}Live"), "its newest reading"),
                        "headers": {"X-Live-Source": {
                            "description": "which store answered",
                            "schema": {"enum": ["table", "postgresql"]}}}},
                "404": json_body(error, f"unknown {kind}"),
                "503": json_body(error, "database unavailable"),
            },
        }}
        operations[f"/v1/{kind}s/{{id}}/hours"] = {"get": {  # the paths hours.py serves
            "summary": f"One {kind}'s hourly totals (the rollups of its readings per UTC hour)",
            "description": "Answered from the hourly Faust table of the worker owning the "
                           "device's partition when the range lies inside the table window "
                           "(HOURLY_WINDOW_HOURS), else from the PostgreSQL rollups (the same "
                           "numbers); the X-Live-Source header says which. Hours without a "
                           "reading are left out.",
            "parameters": [
                {"name": "id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": DEVICE_ID_PATTERN}},
                {"name": "from", "in": "query", "required": False,
                 "schema": {"type": "string", "format": "date-time"},
                 "description": "first hour (cut to its whole hour); default: the first hour "
                                "the tables hold"},
                {"name": "to", "in": "query", "required": False,
                 "schema": {"type": "string", "format": "date-time"},
                 "description": "end, exclusive (rounded up to a whole hour); default: the end "
                                "of the current hour; at most 744 hours after from"}],
            "responses": {
                "200": {**json_body(ref(f"{kind.capitalize()}Hours"), "its hours"),
                        "headers": {"X-Live-Source": {
                            "description": "which store answered",
                            "schema": {"enum": ["table", "postgresql"]}}}},
                "400": json_body(error, "invalid from or to"),
                "404": json_body(error, f"not a {kind} id"),
                "503": json_body(error, "database unavailable"),
            },
        }}
    return operations


PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def undescribed(path: str, methods: set[str]) -> dict[str, Any]:
    """A route nobody described: listed with its parameters; its responses are not fixed."""
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in PATH_PARAM.findall(path)]
    operation: dict[str, Any] = {"summary": f"{path} (not described in detail)",
                                 "responses": {"default": {"description": "see its view"}}}
    if params:
        operation["parameters"] = params
    return {m: copy.deepcopy(operation) for m in sorted(methods)}


def document(settings: Settings, routes: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """The OpenAPI document; ``routes`` (path -> lower-case methods) adds undescribed routes."""
    paths: dict[str, dict[str, Any]] = {**own_operations(settings)}
    for path, ops in OPERATIONS.items():
        paths.setdefault(path, {}).update(ops)
    for path, methods in sorted((routes or {}).items()):
        missing = {m for m in methods if m not in paths.get(path, {})}
        if missing:
            paths.setdefault(path, {}).update(undescribed(path, missing))
    for path, ops in paths.items():
        for method, operation in ops.items():
            with_security(path, method, operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "energy-ingest", "version": "1",
                 "description": "Smart-meter and EV telemetry: ingestion, live state, "
                                "analytics. Every worker serves the same API. API keys: "
                                "required beyond loopback (WEB_BIND), and on loopback once one "
                                "exists; each operation names the scope it needs "
                                "(docs/security.md)."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components(settings), "securitySchemes": SECURITY_SCHEMES},
    }


SECURITY_SCHEMES = {
    "bearerKey": {"type": "http", "scheme": "bearer",
                  "description": "An API key (energy-ingest keys create) as a bearer token"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "The same key in its own header"},
}


def with_security(path: str, method: str, operation: dict[str, Any]) -> None:
    """The scope an operation needs (processor/domain/api_keys.py), and its refusals."""
    scope = required_scope(method.upper(), path)
    if scope is None:
        operation["security"] = []
        return
    operation["security"] = [{"bearerKey": [scope]}, {"apiKeyHeader": [scope]}]
    responses = operation.setdefault("responses", {})
    if "default" not in responses:
        responses.setdefault("401", json_body(ref("Error"), "no API key, or not a valid one "
                                              "(when keys are required)"))
        responses.setdefault("403", json_body(ref("Error"), f"the key lacks the {scope} scope"))


def served_routes(p: Pipeline) -> dict[str, set[str]]:
    """Path -> methods of the views this project serves (HEAD is implied by GET).

    Faust's own blueprints (/router, /table, /stats, ...) are its debugging internals, not
    part of our API, and are left out.
    """
    routes: dict[str, set[str]] = {}
    for path, view in p.app.web.views.items():
        if type(view).__module__.startswith("faust."):
            continue
        methods = {m.lower() for m in view.get_methods() if m not in ("HEAD", "OPTIONS")}
        routes.setdefault(path, set()).update(methods)
    return routes


def register(p: Pipeline) -> None:
    @p.app.page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            return self.json(document(p.settings, served_routes(p)))
