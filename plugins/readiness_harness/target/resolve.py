"""From settings to a Target: what the run judges and what it was given to measure it.

`embedded_target` describes the reference deployment the harness started: it provides
every capability itself (its servers, the repository's rule files and drill workflow,
its own outage control, the PayPal stand-in it runs). `deployed_target` describes a
deployment given by URL: only what the options name, nothing of the harness's own.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import httpx

from readiness_harness.gateways.paypal_sandbox import PayPalSandbox
from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.settings.options import GATEWAY_NAMES, HarnessSettings
from readiness_harness.settings.secrets import redact_url
from readiness_harness.target.outages import EmbeddedOutageControl, OutageHooksError, Outages, load_hooks
from readiness_harness.target.stack import EmbeddedDeployment, sandbox_credentials
from readiness_harness.target.target import Target, gateways_from_status

REFERENCE_RULES = PROJECT_ROOT / "reference_service" / "monitoring"
"""The reference deployment's alerting rules and their promtool tests."""
REFERENCE_DRILL_WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "restore.yml"
"""The reference deployment's weekly restore-drill workflow."""
EMBEDDED_MONITORING = "the embedded Prometheus and Alertmanager (started on first use)"
"""What the embedded default provides for `prometheus` and `alertmanager`: the monitoring
room's session fixture starts them when a line first needs them."""
REFERENCE_WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
"""The reference deployment's CI workflows."""
REFERENCE_REPO_SETTINGS = PROJECT_ROOT / ".github" / "settings.yml"
"""The reference repository's branch protection, as code (the Settings app's file)."""
REFERENCE_SECURITY_REPORT = PROJECT_ROOT / "reports" / "security"
"""Where `readiness security-scan` (make readiness runs it) writes the reference deployment's reports."""
STATUS_TIMEOUT_S = 10.0


class TargetUnreachable(RuntimeError):
    """The target cannot be reached at all; the message says how it failed and what to check."""


class TargetUsageError(ValueError):
    """The options do not describe a usable target; the message says what to give."""


def _in_repository(settings: HarnessSettings, name: str, relative: str) -> Path | None:
    """An evidence path: the option if given, else that file of --repository if it has it."""
    given = settings.path(name)
    if given is not None:
        return given
    repository = settings.path("repository")
    if repository is not None and (repository / relative).exists():
        return repository / relative
    return None


def embedded_target(settings: HarnessSettings, deployment: EmbeddedDeployment) -> Target:
    from readiness_harness.target.balancer import EmbeddedBalancerFactory
    from readiness_harness.target.replica import EmbeddedReplicationFactory

    provided: dict[str, Any] = {
        "database": deployment.database_url,
        "redis": deployment.redis_url,
        "backups": settings.backup_path or "managed",
        "alert_rules": REFERENCE_RULES,
        "rule_files": REFERENCE_RULES,
        "prometheus": EMBEDDED_MONITORING,
        "alertmanager": EMBEDDED_MONITORING,
        "logs": deployment.log_file,
        "drill_history": settings.path("drill_history") or settings.reports_dir / "drill" / "history.jsonl",
        "drill_workflow": settings.path("drill_workflow") or REFERENCE_DRILL_WORKFLOW,
        # The repository's own files are the reference deployment's evidence; an option
        # given on the command line is read instead.
        "workflows": _in_repository(settings, "workflows", ".github/workflows") or REFERENCE_WORKFLOWS,
        "repo_settings": _in_repository(settings, "repo_settings", ".github/settings.yml")
        or REFERENCE_REPO_SETTINGS,
        "security_report": settings.path("security_report") or REFERENCE_SECURITY_REPORT,
        "repository": settings.path("repository") or PROJECT_ROOT,
        # Started on first use, for their lines only: a replica of the deployment's Redis,
        # and HAProxy in front of two more service processes.
        "redis_replication": EmbeddedReplicationFactory(deployment),
        "load_balancer": EmbeddedBalancerFactory(deployment),
        "outages": Outages(EmbeddedOutageControl(deployment)),
        "paypal_signing": deployment.sandbox,
        "admin": True,
    }
    gateways = settings.items("gateways") or GATEWAY_NAMES
    return Target(
        url=deployment.url,
        secrets=settings.secrets,
        gateways=gateways,
        embedded=True,
        ca_file=deployment.ca_file,
        provided={name: value for name, value in provided.items() if value is not None},
        servers=deployment,
    )


def _client(url: str, ca_file: Path | None) -> httpx.Client:
    import ssl

    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ssl.create_default_context(cafile=str(ca_file))
    return httpx.Client(base_url=url.rstrip("/"), timeout=STATUS_TIMEOUT_S, verify=verify)


def read_status(url: str, ca_file: Path | None) -> tuple[int, dict[str, Any]]:
    """GET /health then /status; raises TargetUnreachable when there is no HTTP answer."""
    shown = redact_url(url)
    try:
        with _client(url, ca_file) as client:
            client.get("/health")
            response = client.get("/status")
    except httpx.ConnectError as exc:
        reason = str(exc) or type(exc).__name__
        hint = (
            "the certificate is not trusted: give the CA that signed it with --ca-bundle"
            if "CERTIFICATE_VERIFY_FAILED" in reason
            else "check the URL, that the service is running and that this machine can reach it"
        )
        raise TargetUnreachable(f"the target {shown} is unreachable ({reason}): {hint}") from exc
    except httpx.TimeoutException as exc:
        raise TargetUnreachable(
            f"the target {shown} did not answer within {STATUS_TIMEOUT_S:.0f}s: "
            "check that it is up and reachable"
        ) from exc
    except httpx.HTTPError as exc:
        raise TargetUnreachable(f"the target {shown} cannot be reached: {type(exc).__name__}: {exc}") from exc
    body: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        parsed = response.json()
        body = parsed if isinstance(parsed, dict) else {}
    return response.status_code, body


def deployed_target(settings: HarnessSettings, sandbox: PayPalSandbox | None) -> Target:
    """The deployment at --target-url, with only what the options give. Reads /status
    (gateways, when --gateways is not given); raises TargetUnreachable or TargetUsageError."""
    url = settings.target_url
    assert url is not None  # nosec B101 # type narrowing: called only with --target-url
    status_code, status = read_status(url, settings.ca_bundle)
    gateways = settings.items("gateways")
    if gateways is None:
        gateways = gateways_from_status(status)
        if gateways is None:
            raise TargetUsageError(
                f"the target's /status (HTTP {status_code}) does not say which gateways it verifies "
                "(no `webhooks` booleans): give them with --gateways, e.g. --gateways stripe,standard "
                "[env READINESS_GATEWAYS]"
            )
    provided: dict[str, Any] = {
        "database": settings.database_url,
        "redis": settings.redis_url,
        "backups": settings.backup_path,
        "alert_rules": settings.path("alert_rules") or settings.text("prometheus_url"),
        "rule_files": settings.path("alert_rules"),
        "prometheus": settings.text("prometheus_url"),
        "alertmanager": settings.text("alertmanager_url"),
        "logs": settings.text("loki_url"),
        "drill_history": settings.path("drill_history"),
        "drill_workflow": settings.path("drill_workflow"),
        "workflows": _in_repository(settings, "workflows", ".github/workflows"),
        "repo_settings": _in_repository(settings, "repo_settings", ".github/settings.yml"),
        "security_report": settings.path("security_report"),
        "repository": settings.path("repository"),
        "redis_replication": settings.redis_url,
        "load_balancer": url,
        "paypal_signing": sandbox,
        "admin": True if settings.secrets.given("ADMIN_TOKEN") else None,
    }
    missing: dict[str, str] = {}
    for name in (
        "alert_rules",
        "rule_files",
        "drill_workflow",
        "drill_history",
        "workflows",
        "repo_settings",
        "security_report",
        "repository",
    ):
        path = provided[name]
        if isinstance(path, Path) and not path.exists():
            raise TargetUsageError(
                f"{settings.source(name if name != 'rule_files' else 'alert_rules')}: {path} does not exist"
            )
    openapi = settings.path("openapi")
    if openapi is not None and not openapi.is_file():
        raise TargetUsageError(f"{settings.source('openapi')}: {openapi} is not a file")
    hooks_file = settings.path("outage_hooks")
    if hooks_file is not None:
        try:
            hooks = load_hooks(hooks_file)
        except OutageHooksError as exc:
            raise TargetUsageError(str(exc)) from exc
        if settings.flag("allow_disruption"):
            provided["outages"] = Outages(hooks)
        else:
            missing["outages"] = (
                f"outage hooks were given ({hooks_file}) but not --allow-disruption: outages on a "
                "target run only when asked for twice"
            )
    elif settings.flag("allow_disruption"):
        missing["outages"] = "--allow-disruption was given without --outage-hooks FILE"
    return Target(
        url=url,
        secrets=settings.secrets,
        gateways=gateways,
        embedded=False,
        ca_file=settings.ca_bundle,
        provided={name: value for name, value in provided.items() if value is not None},
        missing=missing,
    )


def start_sandbox(settings: HarnessSettings) -> PayPalSandbox:
    """The PayPal stand-in for --paypal-sandbox, on the given host and port."""
    return PayPalSandbox(
        sandbox_credentials(settings.secrets),
        host=settings.text("paypal_sandbox_host") or "127.0.0.1",
        port=settings.number("paypal_sandbox_port") or 0,
    ).start()
