"""One Prometheus exposition from several: the gateway's and each worker's.

Port 3000 answers ``/metrics`` for the whole system, as a single worker did before the gateway
tier. Series with the same name and labels are added up (counters, histograms: the system's
totals) or, for gauges, the largest is kept (a partition's lag is reported by the worker that
owns it; the others report none); ``*_created`` keeps the earliest. Each worker's own port
still serves its own series, for a Prometheus that scrapes every process.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def merge(texts: Iterable[str]) -> bytes:
    families: dict[str, Metric] = {}
    values: dict[str, dict[Key, float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            seen = values[family.name]
            combine = (min if family.name.endswith("_created")
                       else max if family.type == "gauge" else operator.add)
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                seen[key] = combine(seen[key], s.value) if key in seen else s.value
    for name, family in families.items():
        for (sample, labels), value in values[name].items():
            family.add_sample(sample, dict(labels), value)
    registry = CollectorRegistry()
    registry.register(_Families(list(families.values())))  # type: ignore[arg-type]
    return generate_latest(registry)
