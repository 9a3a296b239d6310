"""How often the worker's garbage collector runs (``GC_GEN0_THRESHOLD``).

Python collects its youngest generation after every 700 net allocations, and every tenth of
those collections the next one, and so on. A worker allocates several objects a reading (the
decoded JSON, the model, the routed line), and holds many long-lived ones (Faust's tables, the
consumer's buffers), so on batches the default had the collector run ~1,000 times in a few
seconds and cost about a quarter of the worker's CPU. Almost all of those objects are freed by
reference counting anyway; the collector only has to find cycles, which are rare here.
"""

from __future__ import annotations

import gc


def tune_gc(gen0_threshold: int) -> tuple[int, int, int]:
    """Collect the youngest generation every ``gen0_threshold`` allocations (0 leaves Python's
    default); the older generations keep their ratios. Returns the thresholds in force."""
    if gen0_threshold > 0:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(gen0_threshold, gen1, gen2)
    return gc.get_threshold()
