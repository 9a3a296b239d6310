"""``python -m tests.faults lose-first TOPIC [--after N] -- worker``: an ``energy-ingest worker``
whose agent on TOPIC loses the first record it is handed after the first N (default 0), as
Faust's consumer did on its way to an agent (docs/architecture.md, section 2): the record is
fetched and counted as read, never processed, never acked. What the product must then do is
never commit past it and fetch it again (the worker's guard, processor/stream/watchdog.py)."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from faust.streams import Stream

from processor.ops import cli

log = logging.getLogger("tests.faults")


def lose_first(topic: str, after: int = 0) -> None:
    """The take of ``topic``'s stream loses the first event it is handed after ``after``."""
    original = Stream.noack_take
    lost: list[bool] = []
    handed = [0]

    async def losing(self: Any, max_: int, within: Any) -> AsyncIterator[Sequence[Any]]:
        names = getattr(self.channel, "topics", ())
        async for events in original(self, max_, within):
            if not lost and topic in names and events:
                skip = max(0, after - handed[0])
                handed[0] += len(events)
                if skip < len(events):
                    lost.append(True)
                    message = events[skip].message
                    log.warning("fault: lose-first loses %s p%d offset %d", message.topic,
                                message.partition, message.offset)
                    events = [*events[:skip], *events[skip + 1:]]
                    if not events:
                        continue
            yield events

    Stream.noack_take = losing  # type: ignore[assignment,method-assign]


def main(argv: list[str]) -> int:
    usage = "usage: python -m tests.faults lose-first TOPIC [--after N] -- energy-ingest ARGS"
    if "--" not in argv or len(argv) < 3 or argv[0] != "lose-first":
        raise SystemExit(usage)
    split = argv.index("--")
    options, rest = argv[1:split], argv[split + 1:]
    if len(options) == 3 and options[1] == "--after" and options[2].isdigit():
        lose_first(options[0], int(options[2]))
    elif len(options) == 1:
        lose_first(options[0])
    else:
        raise SystemExit(usage)
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
