"""``POST /v1/telemetry`` in the gateway: judged, published, answered after the broker's ack.

Here: the HTTP framing (media type, size limits, reading the body from Granian). Judging,
publishing and answering are shared with the workers' route (processor/kafka/http_publish.py):
each request answers only once the message holding its readings was acknowledged.
"""

from __future__ import annotations

from typing import Any

from processor.domain.http_ingest import Reply, media_type_error, too_large
from processor.domain.readings import set_min_reading_time
from processor.gateway import metrics
from processor.kafka.http_publish import HttpPublish
from processor.kafka.publisher import Publisher
from processor.settings import Settings

# A body declared too large is still read (and dropped) up to this size before the 413: a
# client that sends its whole body before reading the answer (most do) would otherwise see the
# connection cut under it instead of the answer.
DRAIN_BYTES = 64_000_000


class Ingest:
    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.max_bytes = settings.http_max_bytes
        # Every gateway process builds one Ingest: its readings are judged by MIN_READING_TIME.
        set_min_reading_time(settings.min_reading_time)
        self.core = HttpPublish(publisher, settings.http_max_readings,
                                settings.http_chunk_readings, metrics.TALLY.internal_error,
                                metrics.TALLY.http_readings, settings.http_linger_ms / 1000)

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
        return await self.core.accept(body)
