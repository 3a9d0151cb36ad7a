"""Read Prometheus's text exposition format (what a service's /metrics answers)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families


def sample_sum(text: str, sample: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of every sample named `sample` whose labels include `labels` (0 when none)."""
    wanted = dict(labels or {})
    total = 0.0
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in wanted.items()):
                total += float(found.value)
    return total
