"""One vehicle's window sums, as the efficiency queries return them, for the unit tests."""

from __future__ import annotations

from processor.domain.efficiency import Figures


def figures(vid: str = "V1", meter: str | None = "M1", ac: float = 10.5, dc: float = 8.5,
            temp_sum: float = 32.0, temp_n: int = 1) -> Figures:
    return Figures(vid, meter, "inferred" if meter else None, ac, dc, temp_sum, temp_n, 1, 1)
