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

UNHANDLED_ERRORS = Counter(
    "unhandled_errors_total",
    "Requests that failed with an unexpected exception (answered 500), by route group",
    ["route"],
)
ERROR_REPORTS = Counter(
    "error_reports_total",
    "Unhandled-error reports to ERROR_SINK_URL, by result (sent, failed, dropped)",
    ["result"],
)
AUDIT_ROWS_SUPPRESSED = Counter(
    "audit_rows_suppressed_total",
    "Unverified deliveries counted into an aggregated audit row instead of one row each",
    ["gateway"],
)
CLIENT_DISCONNECTS = Counter(
    "webhook_client_disconnects_total",
    "Webhook deliveries whose sender went away before the body was read (nothing recorded)",
    ["gateway"],
)
REQUESTS_SHED = Counter(
    "requests_shed_total",
    "Requests answered 503 at once because MAX_CONCURRENT_REQUESTS were already in flight",
)

GATEWAY_NAMES = ("standard", "stripe", "paypal")
ROUTE_GROUPS = (*GATEWAY_NAMES, "other")

# Series exist from the start at 0, so `increase()` in the alert rules sees the first
# error rather than a series that appears already at 1.
for _dependency in ("database", "redis", "paypal"):
    DEPENDENCY_ERRORS.labels(_dependency)
for _route in ROUTE_GROUPS:
    UNHANDLED_ERRORS.labels(_route)
for _result in ("sent", "failed", "dropped"):
    ERROR_REPORTS.labels(_result)
for _gateway in GATEWAY_NAMES:
    AUDIT_ROWS_SUPPRESSED.labels(_gateway)
    CLIENT_DISCONNECTS.labels(_gateway)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
