"""Talk to a Prometheus server over its HTTP API: queries, rules, alerts and scrape targets.

The same client reads the embedded Prometheus (basic auth, loopback) and a target's
(`--prometheus-url`, which may carry credentials in its URL). Every failure is a
`PrometheusError` whose message names the server (credentials redacted), the call and
what came back.

    client = PrometheusClient("http://127.0.0.1:9090")
    client.scalar('sum(up{job="cardpack"})')            # 1.0, or None when no series
    client.vector("rate(webhook_deliveries_total[5m])")  # [Sample(labels, value), ...]
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from readiness_harness.monitoring.rules import RuleSet, rules_from_api
from readiness_harness.settings.secrets import redact_url

TIMEOUT_S = 15.0


class PrometheusError(RuntimeError):
    """A Prometheus call failed; the message says which server, which call and why."""


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`https://user:pw@host/path` -> (`https://host/path`, (user, pw)); credentials in a
    URL are moved into basic auth so they never appear in a request line or a message."""
    parts = urlsplit(url)
    if parts.username is None:
        return url.rstrip("/"), None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean.rstrip("/"), (parts.username, parts.password or "")


class PrometheusClient:
    """Prometheus's HTTP API (`/api/v1/...`)."""

    def __init__(
        self,
        url: str,
        auth: tuple[str, str] | None = None,
        verify: Any = True,
        timeout: float = TIMEOUT_S,
    ) -> None:
        base, from_url = split_credentials(url)
        self.url = base
        self.shown_url = redact_url(url)
        self._client = httpx.Client(base_url=base, auth=auth or from_url, verify=verify, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(
                f"Prometheus at {self.shown_url} did not answer {path}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code in (401, 403):
            raise PrometheusError(
                f"Prometheus at {self.shown_url} refused {path} (HTTP {response.status_code}): give "
                "credentials in the URL (https://user:password@host) or check them"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise PrometheusError(
                f"Prometheus at {self.shown_url} answered {path} with HTTP {response.status_code}, "
                f"not JSON: {response.text[:200]!r}"
            ) from exc
        if body.get("status") != "success":
            raise PrometheusError(
                f"Prometheus at {self.shown_url} refused {path} {dict(params or {})}: "
                f"{body.get('errorType', 'error')}: {body.get('error', response.text[:200])}"
            )
        return body.get("data")

    def ready(self) -> bool:
        try:
            return self._client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def vector(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant query; NaN samples are dropped (0/0 has no value)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data.get("resultType") == "scalar":
            value = float(data["result"][1])
            return [] if math.isnan(value) else [Sample({}, value)]
        samples = []
        for item in data.get("result", []):
            value = float(item["value"][1])
            if not math.isnan(value):
                samples.append(Sample(item.get("metric", {}), value))
        return samples

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an instant query; None when it has no series; an error
        when it has several (the query should aggregate)."""
        samples = self.vector(expr, at)
        if not samples:
            return None
        if len(samples) > 1:
            raise PrometheusError(f"{expr!r} returned {len(samples)} series where one was expected")
        return samples[0].value

    def matrix(
        self, expr: str, start: float, end: float, step_s: float
    ) -> list[tuple[Mapping[str, str], list[tuple[float, float]]]]:
        """A range query: each series with its (time, value) points (NaN points dropped)."""
        data = self._get(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}s"},
        )
        result = []
        for item in data.get("result", []):
            points = [(float(t), float(v)) for t, v in item.get("values", []) if not math.isnan(float(v))]
            result.append((item.get("metric", {}), points))
        return result

    def rules(self) -> RuleSet:
        return rules_from_api(self._get("/api/v1/rules", {"type": "alert"}), self.shown_url)

    def rule_groups(self) -> list[dict[str, Any]]:
        data = self._get("/api/v1/rules")
        return list(data.get("groups", []))

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) with labels, annotations, state, activeAt."""
        return list(self._get("/api/v1/alerts").get("alerts", []))

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets", {"state": "active"}).get("activeTargets", []))

    def alertmanagers(self) -> list[str]:
        data = self._get("/api/v1/alertmanagers")
        return [str(item.get("url")) for item in data.get("activeAlertmanagers", [])]

    def wait_for(self, expr: str, timeout: float, interval: float = 0.5) -> list[Sample]:
        """Poll an instant query until it returns a series (or `timeout`); returns the last
        answer, which is empty when it never did."""
        deadline = time.monotonic() + timeout
        while True:
            samples = self.vector(expr)
            if samples or time.monotonic() >= deadline:
                return samples
            time.sleep(interval)


def service_jobs(client: PrometheusClient) -> list[str]:
    """The scrape jobs whose targets expose the service's webhook metrics."""
    samples = client.vector("count by (job) (webhook_deliveries_total or webhook_latency_seconds_count)")
    return sorted(str(sample.labels.get("job", "")) for sample in samples)
