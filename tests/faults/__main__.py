"""``python -m tests.faults lose-first TOPIC -- worker``: an ``energy-ingest worker`` whose
agent on TOPIC loses the first record it is handed, as Faust's consumer did on its way to an
agent (docs/architecture.md, section 2): the record is fetched and counted as read, never
processed, never acked. What the product must then do is never commit past it and fetch it
again (the worker's guard, processor/stream/watchdog.py)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from faust.streams import Stream

from processor.ops import cli

log = logging.getLogger("tests.faults")


def lose_first(topic: str) -> None:
    """The first batch a take of ``topic``'s stream yields loses its first event."""
    original = Stream.noack_take
    lost: list[bool] = []

    async def losing(self: Any, max_: int, within: Any) -> AsyncIterator[Sequence[Any]]:
        names = getattr(self.channel, "topics", ())
        async for events in original(self, max_, within):
            if not lost and topic in names and events:
                lost.append(True)
                message = events[0].message
                log.warning("fault: lose-first loses %s p%d offset %d", message.topic,
                            message.partition, message.offset)
                events = list(events[1:])
                if not events:
                    continue
            yield events

    Stream.noack_take = losing  # type: ignore[assignment,method-assign]


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "lose-first" or argv[2] != "--":
        raise SystemExit("usage: python -m tests.faults lose-first TOPIC -- energy-ingest ARGS")
    lose_first(argv[1])
    return cli.main(argv[3:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
