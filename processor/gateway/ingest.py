"""``POST /v1/telemetry`` in the gateway: judged, published, answered after the broker's ack.

Judging and answering are the domain's (processor/domain/http_ingest.py). Single readings that
arrive together leave as one Kafka message (processor/kafka/coalescer.py); each request still
answers only once the message holding its reading was acknowledged.
"""

from __future__ import annotations

import logging
from typing import Any

from processor.domain.http_ingest import (
    Reply,
    error,
    media_type_error,
    plan,
    reply,
    too_large,
)
from processor.domain.validation import INTERNAL_ERROR, FieldError, describe
from processor.gateway import metrics
from processor.kafka import topics
from processor.kafka.coalescer import Coalescer
from processor.kafka.publisher import Publisher
from processor.settings import Settings

log = logging.getLogger(__name__)

# A body declared too large is still read (and dropped) up to this size before the 413: a
# client that sends its whole body before reading the answer (most do) would otherwise see the
# connection cut under it instead of the answer.
DRAIN_BYTES = 64_000_000


class Ingest:
    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.max_bytes = settings.http_max_bytes
        self.max_readings = settings.http_max_readings
        self.chunk_readings = settings.http_chunk_readings
        self.publisher = publisher
        self.coalescer = Coalescer(publisher, topics.RAW, settings.http_chunk_readings)

    async def read(self, protocol: Any, length: int | None) -> bytes | None:
        """The body, or None when it exceeds the limit (what is past it is not kept)."""
        if length is not None:  # the server holds the body to its declared length
            return await protocol()  # type: ignore[no-any-return]
        parts: list[bytes] = []
        size = 0
        async for part in protocol:
            size += len(part)
            if size > self.max_bytes:
                if size > DRAIN_BYTES:
                    return None
                continue  # read to the end (up to DRAIN_BYTES), kept no more
            parts.append(part)
        return None if size > self.max_bytes else b"".join(parts)

    async def answer(self, content_type: str | None, content_length: str | None,
                     protocol: Any) -> Reply:
        bad_type = media_type_error(content_type)
        if bad_type:
            return bad_type
        length = int(content_length) if content_length and content_length.isdigit() else None
        if length is not None and length > self.max_bytes:
            if length <= DRAIN_BYTES:
                async for _part in protocol:
                    pass
            return too_large(self.max_bytes, length)
        body = await self.read(protocol, length)
        if body is None:
            return too_large(self.max_bytes)
        try:
            parsed = plan(body, self.max_readings, self.chunk_readings)
        except Exception as exc:  # noqa: BLE001 - a bug of ours; the client gets a clear 4xx
            metrics.TALLY.internal_error()
            log.exception("POST /v1/telemetry: the body could not be judged")
            return error(422, f"the body could not be judged ({INTERNAL_ERROR}: "
                              f"{describe(exc)}); nothing was accepted",
                         errors=[FieldError("body", INTERNAL_ERROR).as_dict()])
        if isinstance(parsed, Reply):
            return parsed
        if parsed.internal_errors:
            metrics.TALLY.internal_error(parsed.internal_errors)
        delivery = await self.coalescer.publish_plan(parsed)
        answer = reply(parsed, delivery, self.publisher.bootstrap)
        metrics.TALLY.http_readings(answer.accepted, answer.rejected)
        return answer
