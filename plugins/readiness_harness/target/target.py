"""The target: the one deployment a run judges, and what the run was given to measure it.

A line measures the target only through what the run was given: its URL and secrets
(webhook lines), a PayPal sandbox its PAYPAL_API_BASE points at, its database and backups
(drill lines), its rule files or Prometheus (alerting lines), outage hooks with explicit
permission (resilience lines). `Target.require(capability)` hands a step what it needs,
or ends the example as "not measured" with the reason and the option that would measure
it. On the embedded default the harness owns the deployment, so it provides every
capability itself (its servers, the repository's rule files and workflows).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readiness_harness.checklist.needs import mark_needed, note_need
from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.settings.secrets import Secrets, redact_url


@dataclass(frozen=True)
class Capability:
    """Something a line needs from the target, and the option(s) that give it."""

    name: str
    what: str
    options: tuple[str, ...]

    @property
    def option_text(self) -> str:
        return " or ".join(self.options)


CAPABILITIES: dict[str, Capability] = {
    capability.name: capability
    for capability in (
        Capability("database", "the target's PostgreSQL", ("--database-url",)),
        Capability("redis", "the target's Redis", ("--redis-url",)),
        Capability("backups", "the target's backup folder", ("--backup-path",)),
        Capability("alert_rules", "the target's alerting rules", ("--alert-rules", "--prometheus-url")),
        Capability("rule_files", "the target's rule files and their promtool tests", ("--alert-rules",)),
        Capability("prometheus", "the target's Prometheus", ("--prometheus-url",)),
        Capability("alertmanager", "the target's Alertmanager", ("--alertmanager-url",)),
        Capability("logs", "the target's aggregated logs", ("--loki-url",)),
        Capability("drill_history", "the restore drill's history (history.jsonl)", ("--drill-history",)),
        Capability("drill_workflow", "the target's scheduled restore-drill workflow", ("--drill-workflow",)),
        Capability("workflows", "the target's CI workflow files", ("--workflows", "--repository")),
        Capability(
            "repo_settings",
            "the target's branch protection settings (as code or a JSON export)",
            ("--repo-settings", "--repository"),
        ),
        Capability(
            "security_report",
            "the target's security scan reports (bandit, pip-audit JSON)",
            ("--security-report",),
        ),
        Capability(
            "repository", "the target's repository checkout (README, docs, runbooks)", ("--repository",)
        ),
        Capability(
            "redis_replication",
            "the target's Redis primary (or a cluster node), whose replication is read",
            ("--redis-url",),
        ),
        Capability(
            "load_balancer",
            "the target's load balancer (the target URL) and the instances behind it",
            ("--target-url",),
        ),
        Capability(
            "outages",
            "outage hooks for the target's database, cache and service, with permission to use them",
            ("--outage-hooks FILE --allow-disruption",),
        ),
        Capability(
            "paypal_signing",
            "a PayPal API stand-in the target verifies its PayPal deliveries with "
            "(PayPal signs real events with its own key)",
            ("--paypal-sandbox",),
        ),
        Capability(
            "admin", "the target's admin token (ADMIN_TOKEN)", ("the ADMIN_TOKEN environment variable",)
        ),
    )
}

GATEWAY_SECRETS = {"standard": "PAYMENTS_WEBHOOK_SECRET", "stripe": "STRIPE_WEBHOOK_SECRET"}
"""The environment variable holding each HMAC gateway's secret (PayPal verifies remotely)."""


@dataclass
class Target:
    """Where the checklist runs, what it was given there, and what the harness controls."""

    url: str
    secrets: Secrets
    gateways: tuple[str, ...]
    embedded: bool
    ca_file: Path | None = None
    """CA bundle that verifies the target's certificate (None: the system trust store)."""
    provided: dict[str, Any] = field(default_factory=dict)
    """Capability name -> what measures it (a URL, a path, a controller object)."""
    missing: dict[str, str] = field(default_factory=dict)
    """Capability name -> why it cannot be had on this run, beyond the missing option
    (for example: the target did not call the PayPal sandbox in the preflight)."""
    servers: Any = None
    """The embedded stack's servers (EmbeddedPostgres, EmbeddedRedis) when the harness runs them."""

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What HTTP clients pass as `verify=` for this target."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    @property
    def database_url(self) -> str | None:
        value = self.provided.get("database")
        return str(value) if value else None

    @property
    def redis_url(self) -> str | None:
        value = self.provided.get("redis")
        return str(value) if value else None

    def uses(self, gateway: str) -> bool:
        return gateway in self.gateways

    def has(self, capability: str) -> bool:
        return self.provided.get(capability) is not None and capability not in self.missing

    def require(self, capability: str) -> Any:
        """What measures `capability`, or end this example as not measured, saying which
        option would measure it."""
        known = CAPABILITIES.get(capability)
        if known is None:
            raise KeyError(f"unknown capability {capability!r}; known: {', '.join(sorted(CAPABILITIES))}")
        note_need(capability)
        try:
            if capability in self.missing:
                not_measured(f"{known.what}: {self.missing[capability]}")
            value = self.provided.get(capability)
            if value is None:
                not_measured(f"this run was not given {known.what}", option=known.option_text)
        except BaseException as error:  # the skip that ends the example as not measured
            mark_needed(error, capability)
            raise
        return value

    def describe(self) -> dict[str, Any]:
        """What the run was given, for readiness.json and the report header (no secrets)."""
        return {
            "url": self.shown_url,
            "embedded": self.embedded,
            "gateways": list(self.gateways),
            "measurable": sorted(name for name in CAPABILITIES if self.has(name)),
            "not_measurable": {
                name: self.missing.get(name) or f"not given ({CAPABILITIES[name].option_text})"
                for name in sorted(CAPABILITIES)
                if not self.has(name)
            },
            "secrets_given": [name for name in _SECRET_NAMES if self.secrets.given(name)],
        }


_SECRET_NAMES = ("PAYMENTS_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "ADMIN_TOKEN", "PAYPAL_CLIENT_SECRET")


def gateways_from_status(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The gateways a target says it verifies, from its /status `webhooks` booleans;
    None when it does not say."""
    webhooks = body.get("webhooks")
    if not isinstance(webhooks, Mapping):
        return None
    named = [name for name in ("stripe", "paypal", "standard") if isinstance(webhooks.get(name), bool)]
    if not named:
        return None
    return tuple(name for name in named if webhooks[name])
