"""The checklist's key metrics as PromQL over a window, with the query as evidence.

Counters are read exactly over the window: their sum at its end minus their sum at its
start (a series born inside the window counts from 0, which `increase()` cannot see), or
`increase()` when a counter reset inside the window (a restarted service). Thresholds are
not here: they come from the feature's table.

    value = key_metric("webhook processing success rate").measure(client, window)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from readiness_harness.monitoring.prometheus import PrometheusClient


@dataclass(frozen=True)
class Window:
    """[start, end] in Unix seconds."""

    start: float
    end: float

    @property
    def seconds(self) -> int:
        """Whole seconds, rounded down (for reading; queries use `range`)."""
        return max(1, math.floor(self.end - self.start))

    @property
    def milliseconds(self) -> int:
        """The window's length as Prometheus sees it, rounded down to the millisecond from
        the end a query is evaluated at (`at=window.end` is sent in milliseconds). Rounded
        down so that `offset` never reaches back before the start (before Prometheus began
        to scrape, on the embedded default), and to the millisecond, not the second, so
        that it does not reach up to a second into the window either: a short window whose
        start was read a second late would count the traffic in it as already there."""
        # rounded to the microsecond first, so float noise (1829.9999997) does not lose a ms
        return max(1, math.floor(round((round(self.end, 3) - self.start) * 1000, 3)))

    @property
    def range(self) -> str:
        """The length as a PromQL duration: whole seconds when it is, milliseconds otherwise."""
        ms = self.milliseconds
        return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def delta(selector: str, window: Window, by: str = "") -> str:
    """PromQL for how much the counters of `selector` grew over `window`, summed (`by`
    keeps labels, e.g. "le"): end minus start, series born in the window from 0."""
    group = f" by ({by})" if by else ""
    end = f"sum{group} ({selector})"
    start = f"sum{group} ({selector} offset {window.range})"
    if by:
        return f"(({end} - {start}) or {end})"
    return f"(({end} or vector(0)) - ({start} or vector(0)))"


def increase(selector: str, window: Window, by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return f"sum{group} (increase({selector}[{window.range}]))"


@dataclass(frozen=True)
class Measurement:
    metric: str
    value: float | None
    """None when the window holds no data for it (0/0, no series)."""
    query: str
    window: Window
    unit: str
    detail: dict[str, Any]

    def shown(self) -> str:
        if self.value is None:
            return "no data"
        if self.unit == "%":
            return f"{self.value * 100:.3f}%"
        return f"{self.value:.3f} {self.unit}"

    def evidence(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "shown": self.shown(),
            "query": self.query,
            "window": {"start": self.window.start, "end": self.window.end, "seconds": self.window.seconds},
            **self.detail,
        }


DELIVERIES = "webhook_deliveries_total"
OK_OUTCOMES = 'outcome=~"accepted|duplicate|ignored"'


def _counter_expr(
    client: PrometheusClient, metric: str, matchers: str, window: Window, by: str = ""
) -> tuple[str, str]:
    """The exact-delta expression, or increase() if a counter reset in the window; and which."""
    selector = f"{metric}{{{matchers}}}"
    resets = client.scalar(f"sum(resets({selector}[{window.range}]))", at=window.end) or 0.0
    if resets > 0:
        return increase(selector, window, by), f"increase() ({resets:g} counter resets in the window)"
    return delta(selector, window, by), "end minus start"


def _ratio(
    client: PrometheusClient, numerator: str, denominator: str, window: Window
) -> tuple[float | None, str, dict[str, Any]]:
    top, how_top = _counter_expr(client, DELIVERIES, numerator, window)
    bottom, how_bottom = _counter_expr(client, DELIVERIES, denominator, window)
    query = f"{top} / {bottom}"
    count = client.scalar(bottom, at=window.end) or 0.0
    value = client.scalar(query, at=window.end) if count > 0 else None
    return (
        value,
        query,
        {"deliveries": count, "counted_as": how_top if how_top == how_bottom else f"{how_top}; {how_bottom}"},
    )


def success_rate(client: PrometheusClient, window: Window, jobs: str) -> Measurement:
    """Deliveries processed (accepted, duplicate, ignored) over all but the rejected ones
    (4xx are the sender's fault: forged, stale, malformed)."""
    value, query, detail = _ratio(
        client, f'{OK_OUTCOMES},job=~"{jobs}"', f'outcome!="rejected",job=~"{jobs}"', window
    )
    return Measurement("webhook processing success rate", value, query, window, "%", detail)


def error_rate(client: PrometheusClient, window: Window, jobs: str) -> Measurement:
    """Deliveries answered 5xx (outcome error) over every delivery."""
    value, query, detail = _ratio(client, f'outcome="error",job=~"{jobs}"', f'job=~"{jobs}"', window)
    return Measurement("error rate", value, query, window, "%", detail)


def p99_latency(client: PrometheusClient, window: Window, jobs: str) -> Measurement:
    buckets, how = _counter_expr(client, "webhook_latency_seconds_bucket", f'job=~"{jobs}"', window, by="le")
    query = f"histogram_quantile(0.99, {buckets})"
    count_expr, _ = _counter_expr(client, "webhook_latency_seconds_count", f'job=~"{jobs}"', window)
    count = client.scalar(count_expr, at=window.end) or 0.0
    value = client.scalar(query, at=window.end) if count > 0 else None
    return Measurement(
        "payment processing latency p99",
        value,
        query,
        window,
        "s",
        {"observations": count, "counted_as": how},
    )


def uptime(client: PrometheusClient, window: Window, jobs: str) -> Measurement:
    query = f'avg(avg_over_time(up{{job=~"{jobs}"}}[{window.range}]))'
    targets = client.vector(f'count_over_time(up{{job=~"{jobs}"}}[{window.range}])', at=window.end)
    value = client.scalar(query, at=window.end)
    return Measurement(
        "system uptime",
        value,
        query,
        window,
        "%",
        {"scrapes": sum(sample.value for sample in targets), "instances": len(targets)},
    )


def drill_success(client: PrometheusClient, window: Window, jobs: str) -> Measurement:
    """The worst restore_drill_last_run_passed seen in the window, over every host."""
    query = f"min(min_over_time(restore_drill_last_run_passed[{window.range}]))"
    hosts = client.vector("restore_drill_last_run_passed", at=window.end)
    value = client.scalar(query, at=window.end)
    return Measurement(
        "restore drill success rate",
        value,
        query,
        window,
        "%",
        {"hosts": {str(s.labels.get("host") or s.labels.get("instance")): s.value for s in hosts}},
    )


KEY_METRICS: dict[str, Callable[[PrometheusClient, Window, str], Measurement]] = {
    "webhook processing success rate": success_rate,
    "payment processing latency": p99_latency,
    "restore drill success rate": drill_success,
    "system uptime": uptime,
    "error rate": error_rate,
}
"""The checklist's five key metrics, by the name the feature's table uses."""


def key_metric(name: str) -> Callable[[PrometheusClient, Window, str], Measurement]:
    try:
        return KEY_METRICS[name]
    except KeyError:
        raise KeyError(f"unknown key metric {name!r}; known: {', '.join(KEY_METRICS)}") from None


@dataclass(frozen=True)
class Threshold:
    """A comparison from the feature's table: '> 99%', '< 5 s', '= 100%'."""

    operator: str
    value: float
    text: str

    @classmethod
    def parse(cls, text: str) -> Threshold:
        import re

        match = re.fullmatch(r"\s*(>=|<=|>|<|=)\s*(\d+(?:\.\d+)?)\s*(%|s|seconds?)?\s*", text)
        if not match:
            raise ValueError(f"cannot read the threshold {text!r}: write e.g. '> 99%', '< 5 s', '= 100%'")
        number = float(match.group(2))
        return cls(match.group(1), number / 100 if match.group(3) == "%" else number, text.strip())

    def holds(self, value: float) -> bool:
        return {
            ">": value > self.value,
            ">=": value >= self.value,
            "<": value < self.value,
            "<=": value <= self.value,
            "=": math.isclose(value, self.value, rel_tol=1e-9, abs_tol=1e-12),
        }[self.operator]
