"""The target's monitoring as a line reaches it: Prometheus, Alertmanager and logs.

`MonitoringAccess` connects (or, on the embedded default, starts the real Prometheus,
Alertmanager and node_exporter) only when a line first asks, so a run without
monitoring lines never pays for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readiness_harness.monitoring.alertmanager import AlertmanagerClient
from readiness_harness.monitoring.embedded import EmbeddedMonitoring, MonitoringError, ServiceEndpoint
from readiness_harness.monitoring.logs import FileLogs, LogSource, LokiLogs
from readiness_harness.monitoring.prometheus import PrometheusClient, service_jobs
from readiness_harness.monitoring.rules import load_rule_files
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.resolve import REFERENCE_RULES
from readiness_harness.target.stack import EmbeddedDeployment
from readiness_harness.target.target import Target

REFERENCE_ALERTMANAGER = REFERENCE_RULES / "alertmanager.yml"
"""The reference deployment's Alertmanager configuration."""


@dataclass
class MonitoringAccess:
    """The target's monitoring, reached lazily: nothing starts or connects until asked."""

    target: Target
    settings: HarnessSettings
    session_start: float
    _stack: EmbeddedMonitoring | None = None
    _prometheus: PrometheusClient | None = None
    _alertmanager: AlertmanagerClient | None = None
    _logs: LogSource | None = None
    _jobs: str | None = None
    _closers: list[Any] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.target.embedded

    def stack(self) -> EmbeddedMonitoring:
        """The embedded Prometheus/Alertmanager/node_exporter, started on first use."""
        if self._stack is None:
            deployment = self.target.servers
            if not isinstance(deployment, EmbeddedDeployment):
                raise MonitoringError("the embedded monitoring needs the embedded deployment")
            service = deployment.service
            rules = load_rule_files(REFERENCE_RULES)
            stack = EmbeddedMonitoring(
                ServiceEndpoint(
                    f"{service.host}:{service.port}",
                    "https" if deployment.certificate else "http",
                    deployment.ca_file,
                ),
                list(rules.rule_files),
                REFERENCE_ALERTMANAGER,
                self.settings.reports_dir / "drill",
            )
            self._closers.append(stack.stop)
            stack.start()
            self._stack = stack
        return self._stack

    def prometheus(self) -> PrometheusClient:
        self.target.require("prometheus")
        if self._prometheus is None:
            if self.embedded:
                self._prometheus = self.stack().prometheus()
            else:
                self._prometheus = PrometheusClient(str(self.target.provided["prometheus"]))
                self._closers.append(self._prometheus.close)
        return self._prometheus

    def alertmanager(self) -> AlertmanagerClient:
        self.target.require("alertmanager")
        if self._alertmanager is None:
            if self.embedded:
                self._alertmanager = self.stack().alertmanager()
            else:
                self._alertmanager = AlertmanagerClient(str(self.target.provided["alertmanager"]))
                self._closers.append(self._alertmanager.close)
        return self._alertmanager

    def logs(self) -> LogSource:
        source = self.target.require("logs")
        if self._logs is None:
            if isinstance(source, Path):
                self._logs = FileLogs(source)
            else:
                loki = LokiLogs(str(source), self.settings.text("loki_selector") or '{job=~".+"}')
                self._closers.append(loki.close)
                self._logs = loki
        return self._logs

    def jobs(self) -> str:
        """A regex of the scrape jobs that are the service (the embedded default's one job;
        on a target, every job whose targets expose the webhook metrics)."""
        if self._jobs is None:
            if self.embedded:
                self._jobs = "cardpack"
            else:
                found = service_jobs(self.prometheus())
                if not found:
                    raise AssertionError(
                        f"no scrape job of {self.prometheus().shown_url} exposes webhook_deliveries_total: "
                        "is the service scraped?"
                    )
                self._jobs = "|".join(found)
        return self._jobs

    def window_start(self) -> float:
        """Where "the run's window" begins: when the embedded Prometheus first scraped the
        service, or when this run started (a target's Prometheus has scraped all along)."""
        if self.embedded:
            return self.stack().started_at
        return self.session_start

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
