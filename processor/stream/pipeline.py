"""What the agents, timers and views of a worker share: the Faust app and its topics and
tables, the settings, the database address and the stall watchdog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust

from processor.domain.stalls import Watchdog
from processor.settings import Settings


@dataclass
class Pipeline:
    app: faust.App
    settings: Settings
    dsn: str
    raw: faust.TopicT  # telemetry.raw
    routed: dict[str, faust.TopicT]  # kind name -> its routed topic (telemetry.meter, ...)
    live: dict[str, Any]  # kind name -> Faust table: device id -> latest reading
    hourly: dict[str, Any]  # kind name -> Faust table: "device|hour" -> that hour's totals
    watchdog: Watchdog
    # called on every new partition assignment (the watchdog's clocks, the writers' offsets)
    on_assignment: list[Callable[[], None]] = field(default_factory=list)
