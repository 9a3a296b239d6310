"""Counters for the progress log line (and, later, the metrics endpoint)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Counts:
    raw_messages: int = 0
    readings_valid: int = 0
    rejected: int = 0
    batches_routed: int = 0
    inserted: dict[str, int] = field(default_factory=lambda: {"meter": 0, "vehicle": 0})
    duplicates: dict[str, int] = field(default_factory=lambda: {"meter": 0, "vehicle": 0})
    since: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        return (
            f"raw messages {self.raw_messages}, valid readings {self.readings_valid}, "
            f"rejected {self.rejected}; written: meter {self.inserted['meter']} "
            f"(+{self.duplicates['meter']} already present), vehicle {self.inserted['vehicle']} "
            f"(+{self.duplicates['vehicle']} already present)"
        )


COUNTS = Counts()
