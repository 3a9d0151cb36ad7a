"""Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (several workers), samples
are aggregated across processes by prometheus_client's multiprocess collector."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook deliveries by gateway, event type and outcome",
    ["gateway", "type", "outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "webhook_latency_seconds",
    "Time from request to response for webhook deliveries",
    ["gateway"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEPENDENCY_ERRORS = Counter(
    "dependency_errors_total",
    "Failures reaching a dependency (database, redis, paypal)",
    ["dependency"],
)


# Series exist from the start at 0, so `increase()` in the alert rules sees the first
# error rather than a series that appears already at 1.
for _dependency in ("database", "redis", "paypal"):
    DEPENDENCY_ERRORS.labels(_dependency)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
