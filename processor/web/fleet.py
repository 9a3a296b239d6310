"""Fleet administration: ``PUT /v1/fleet/vehicles/{vehicleId}/meter`` links a vehicle to a meter.

The link counts from now on: energy before it stays with the previous meter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from faust.web import Request, Response, View

from db import efficiency_queries as queries
from processor.domain.efficiency import iso
from processor.domain.readings import DEVICE_ID_PATTERN
from processor.stream.pipeline import Pipeline

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def register(p: Pipeline) -> None:
    @p.app.page("/v1/fleet/vehicles/{vehicle_id}/meter")
    class VehicleMeter(View):
        async def put(self, request: Request, vehicle_id: str) -> Response:
            if not _DEVICE_ID.match(vehicle_id):
                return self.json({"error": "invalid vehicleId", "field": "vehicleId",
                                  "detail": "1-64 characters of [A-Za-z0-9._:-]"}, status=422)
            try:
                body = await request.json()
            except ValueError:
                return self.json({"error": "body is not valid JSON",
                                  "detail": 'send {"meterId": "M-201"}'}, status=400)
            meter_id = body.get("meterId") if isinstance(body, dict) else None
            if not isinstance(meter_id, str) or not _DEVICE_ID.match(meter_id) or (
                    isinstance(body, dict) and set(body) - {"meterId"}):
                return self.json({"error": "invalid body", "field": "meterId",
                                  "detail": 'send {"meterId": "<1-64 characters of '
                                            '[A-Za-z0-9._:-]>"} and nothing else'}, status=422)
            valid_from = datetime.now(UTC)
            db = await queries.pool(p.dsn)
            async with db.connection() as conn:
                await queries.set_link(conn, vehicle_id, meter_id, valid_from)
            return self.json({"vehicleId": vehicle_id, "meterId": meter_id,
                              "validFrom": iso(valid_from), "source": "api"})
