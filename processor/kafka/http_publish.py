"""A ``POST /v1/telemetry`` body, judged, published and answered: what the gateway and the
workers' own route share once each has read the body its own way.

Judging and answering are the domain's (processor/domain/http_ingest.py); a reading alone goes
through the coalescer, an array's chunks as they are. The counts go to the caller's metrics.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from processor.domain.http_ingest import Plan, Reply, error, plan, reply
from processor.domain.validation import INTERNAL_ERROR, FieldError, describe
from processor.kafka import topics
from processor.kafka.coalescer import Coalescer
from processor.kafka.publisher import Publisher

log = logging.getLogger(__name__)


class HttpPublish:
    def __init__(self, publisher: Publisher, max_readings: int, chunk_readings: int,
                 internal_errors: Callable[[int], None],
                 readings: Callable[[Counter[str], Counter[str]], None],
                 linger: float = 0.0) -> None:
        """``internal_errors(n)``: readings or bodies our own bug failed on;
        ``readings(accepted, rejected)``: each answer's readings by claimed type."""
        self.publisher = publisher
        self.max_readings = max_readings
        self.chunk_readings = chunk_readings
        self.coalescer = Coalescer(publisher, topics.RAW, chunk_readings, linger)
        self.internal_errors = internal_errors
        self.readings = readings

    async def accept(self, body: bytes) -> Reply:
        try:
            parsed = plan(body, self.max_readings, self.chunk_readings)
        except Exception as exc:  # noqa: BLE001 - a bug of ours; the client gets a clear 4xx
            self.internal_errors(1)
            log.exception("POST /v1/telemetry: the body could not be judged")
            return error(422, f"the body could not be judged ({INTERNAL_ERROR}: "
                              f"{describe(exc)}); nothing was accepted",
                         errors=[FieldError("body", INTERNAL_ERROR).as_dict()])
        if isinstance(parsed, Reply):
            return parsed
        if parsed.internal_errors:
            self.internal_errors(parsed.internal_errors)
        answer = reply(parsed, await self.publish(parsed), self.publisher.bootstrap)
        self.readings(answer.accepted, answer.rejected)
        return answer

    async def publish(self, p: Plan) -> list[str | None]:
        """Per message, None once acked, else the error."""
        if len(p.chunks) == 1 and p.chunks[0].key is not None:  # one reading
            return [await self.coalescer.publish(p.chunks[0].key, p.chunks[0].value)]
        return await self.publisher.publish(topics.RAW, [(c.key, c.value) for c in p.chunks])
