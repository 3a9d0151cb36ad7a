"""The readiness pytest plugin: it only wires pytest's hooks and fixtures to the rooms.

Options and secrets come from `settings`, checklist lines and their examples from
`checklist`, the target (embedded default or a deployment by URL) from `target`, the
gateway simulator and clients from `gateways`, the verdict and evidence from `report`.
Step definitions live in `readiness_steps` and are loaded as plugins so their fixtures
are visible to every feature file.
"""

from __future__ import annotations

import contextlib
import platform
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from readiness_harness.checklist.collection import collect_feature, register_markers
from readiness_harness.checklist.outcomes import not_applicable
from readiness_harness.checklist.recorder import EVIDENCE_PREFIX, ChecklistLine, ChecklistRecorder
from readiness_harness.fleet.parametrize import register_fleet
from readiness_harness.gateways.clients import AdminClient, WebhookClient
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.report import allure_evidence
from readiness_harness.report.allure_lines import rewrite_as_lines
from readiness_harness.report.signoff import (
    Attestations,
    SignoffFileError,
    Waiver,
    load_attestations,
    load_waivers,
)
from readiness_harness.report.verdict import Verdict, WaiverMismatch, check_waivers, judge, warnings, write
from readiness_harness.settings.options import GATEWAY_NAMES, HarnessSettings, add_options, resolve_settings
from readiness_harness.settings.secrets import redact_url, scrub
from readiness_harness.target.embedded import EmbeddedServerError
from readiness_harness.target.outages import OutageError, Outages
from readiness_harness.target.preflight import Finding, preflight
from readiness_harness.target.resolve import (
    TargetUnreachable,
    TargetUsageError,
    deployed_target,
    embedded_target,
    start_sandbox,
)
from readiness_harness.target.stack import embedded_stack
from readiness_harness.target.target import Target

pytest_plugins = (
    "readiness_steps.common",
    "readiness_steps.gateway",
    "readiness_steps.smoke",
    "readiness_steps.security",
    "readiness_steps.resilience",
    "readiness_steps.prelaunch",
    "readiness_steps.restore_drill",
    "readiness_steps.monitoring",
    "readiness_steps.throughput",
    "readiness_steps.load_testing",
    "readiness_steps.workflows",
    "readiness_steps.security_scan",
    "readiness_steps.infrastructure",
    "readiness_steps.documentation",
    "readiness_steps.testing",
    "readiness_harness.drill.fixtures",
    "readiness_harness.load.fixtures",
    "readiness_harness.evidence.fixtures",
    "readiness_harness.target.fixtures",
    "readiness_harness.report.redaction",
    "readiness_harness.monitoring.fixtures",
)

SETTINGS_KEY = pytest.StashKey[HarnessSettings]()
RECORDER_KEY = pytest.StashKey[ChecklistRecorder]()
WAIVERS_KEY = pytest.StashKey[list[Waiver]]()
TARGET_KEY = pytest.StashKey[Target]()
FINDINGS_KEY = pytest.StashKey[list[Finding]]()
JANITOR_KEY = pytest.StashKey[contextlib.ExitStack]()
ABORTED_KEY = pytest.StashKey[str]()
INTERRUPTED_KEY = pytest.StashKey[bool]()

UNREACHABLE_EXIT = 2
AFTER_SUITES_TAG = "after_suites"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    parser.getgroup("readiness").addoption(
        "--readiness-json",
        dest="readiness_json",
        default=None,
        metavar="PATH",
        help="write every checklist line with its state, evidence and the verdict to PATH "
        "(readiness.json) and a Markdown summary beside it",
    )


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    settings = resolve_settings(config)
    config.stash[SETTINGS_KEY] = settings
    try:
        config.stash[WAIVERS_KEY] = load_waivers(settings.waivers_file, settings.target_url)
    except SignoffFileError as exc:
        raise pytest.UsageError(str(exc)) from exc
    register_markers(config, settings.features_dir)
    recorder = ChecklistRecorder()
    config.stash[RECORDER_KEY] = recorder
    config.stash[JANITOR_KEY] = contextlib.ExitStack()
    config.pluginmanager.register(recorder, "readiness-checklist")
    register_fleet(config, settings.path("inventory"))
    if config.pluginmanager.has_plugin("allure_pytest_bdd"):
        config.pluginmanager.register(allure_evidence, "readiness-allure")
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # SIGTERM cleans up like Ctrl-C: servers stopped, outages undone, folders removed.
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop what the run started (servers, sandbox, outages undone), also after Ctrl-C."""
    janitor = config.stash.get(JANITOR_KEY, None)
    if janitor is None:
        return
    started = config.stash.get(TARGET_KEY, None)
    janitor.close()
    if config.stash.get(INTERRUPTED_KEY, False) and started is not None:
        what = (
            "the embedded PostgreSQL, Redis, reference service and PayPal sandbox, and removed their folders"
            if started.embedded
            else "the PayPal sandbox (if any); started again every part an outage line stopped"
        )
        sys.stderr.write(f"readiness: interrupted; stopped {what}\n")


def _write_line(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(scrub(text))


def _start_embedded(config: pytest.Config) -> Target:
    """The embedded default, started once for the session (stopped by the janitor); a
    failure to start stops the run with one message instead of failing every line."""
    settings = config.stash[SETTINGS_KEY]
    janitor = config.stash[JANITOR_KEY]
    try:
        deployment = janitor.enter_context(
            embedded_stack(settings.secrets, settings.database_url, settings.redis_url, tls=True)
        )
    except EmbeddedServerError as exc:
        config.stash[ABORTED_KEY] = scrub(str(exc))
        pytest.exit(
            scrub(f"readiness: the embedded default could not start: {exc}"), returncode=UNREACHABLE_EXIT
        )
    target = embedded_target(settings, deployment)
    _watch_outages(config, target)
    config.stash[TARGET_KEY] = target
    return target


def _watch_outages(config: pytest.Config, target: Target) -> None:
    outages = target.provided.get("outages")
    if isinstance(outages, Outages):
        config.stash[JANITOR_KEY].callback(_restore_parts, config, outages)


def _resolve_deployed(session: pytest.Session) -> None:
    """Before any scenario: the deployment is reached and probed; unreachable stops the
    run with exit 2 and one message."""
    config = session.config
    settings = config.stash[SETTINGS_KEY]
    janitor = config.stash[JANITOR_KEY]
    sandbox = None
    if settings.flag("paypal_sandbox"):
        sandbox = start_sandbox(settings)
        janitor.callback(sandbox.stop)
        _write_line(
            config,
            f"PayPal sandbox at {sandbox.api_base}: set the deployment's PAYPAL_API_BASE to it, "
            f"PAYPAL_CLIENT_ID={sandbox.credentials.client_id}, "
            f"PAYPAL_WEBHOOK_ID={sandbox.credentials.webhook_id} and PAYPAL_CLIENT_SECRET (from the "
            "environment of this run)",
        )
    try:
        target = deployed_target(settings, sandbox)
    except TargetUnreachable as exc:
        config.stash[ABORTED_KEY] = scrub(str(exc))
        pytest.exit(scrub(f"readiness preflight: {exc}"), returncode=UNREACHABLE_EXIT)
    except TargetUsageError as exc:
        config.stash[ABORTED_KEY] = scrub(str(exc))
        raise pytest.UsageError(scrub(str(exc))) from exc
    _watch_outages(config, target)
    config.stash[TARGET_KEY] = target
    with (
        WebhookClient(target.url, verify=target.verify) as client,
        AdminClient(target.url, target.secrets.admin_token, verify=target.verify) as admin,
    ):
        findings = preflight(target, client, admin)
    config.stash[FINDINGS_KEY] = findings
    gateways = ", ".join(target.gateways)
    _write_line(config, f"readiness preflight of {target.shown_url} (gateways: {gateways}):")
    for finding in findings:
        _write_line(config, finding.line())


def _restore_parts(config: pytest.Config, outages: Outages) -> None:
    """Teardown and Ctrl-C: start again every part of the target an outage line stopped."""
    try:
        started = outages.restore_all()
    except OutageError as exc:
        _write_line(config, f"readiness: could not start the target's parts again: {exc}; start them by hand")
        return
    if started:
        _write_line(config, f"readiness: started the target's {', '.join(started)} again")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before anything runs: waivers must each name exactly one line (or example), and a
    checklist run resolves and probes its target."""
    config = session.config
    settings = config.stash[SETTINGS_KEY]
    lines = config.stash[RECORDER_KEY].ordered()
    if not lines:  # no checklist in this run (e.g. only the harness's own tests)
        return
    try:
        check_waivers(lines, config.stash[WAIVERS_KEY])
    except WaiverMismatch as exc:
        raise pytest.UsageError(f"{settings.waivers_file}: {exc}") from exc
    if config.option.collectonly or not any(line.selected for line in lines):
        return
    if not settings.embedded:
        _resolve_deployed(session)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scenarios tagged @after_suites judge other lines of the same run: run them last."""
    later = [item for item in items if item.get_closest_marker(AFTER_SUITES_TAG)]
    if later:
        items[:] = [item for item in items if item not in later] + later


def _gateways(config: pytest.Config) -> tuple[str, ...]:
    target = config.stash.get(TARGET_KEY, None)
    if target is not None:
        return target.gateways
    return config.stash[SETTINGS_KEY].items("gateways") or GATEWAY_NAMES


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """An example about a gateway the target does not use is not applicable."""
    example = item.config.stash[RECORDER_KEY].example(item.nodeid)
    if example is None:
        return
    gateway = example.params.get("gateway")
    gateways = _gateways(item.config)
    if gateway is not None and gateway not in gateways:
        not_applicable(f"the target does not use {gateway} (its gateways: {', '.join(gateways)})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    config.stash[INTERRUPTED_KEY] = exitstatus == pytest.ExitCode.INTERRUPTED
    settings = config.stash[SETTINGS_KEY]
    target = config.stash.get(TARGET_KEY, None)
    shown = "embedded reference service" if settings.embedded else redact_url(settings.target_url or "")
    path = config.getoption("readiness_json")
    readiness_json = Path(path) if path else None
    lines = config.stash[RECORDER_KEY].ordered()
    if readiness_json is not None and lines and ABORTED_KEY not in config.stash:
        waivers = config.stash[WAIVERS_KEY]
        today = date.today()
        try:
            judged = judge(lines, waivers, today)
        except WaiverMismatch as exc:
            raise pytest.UsageError(f"{settings.waivers_file}: {exc}") from exc
        attestations = None
        with contextlib.suppress(SignoffFileError):
            attestations = load_attestations(settings.attestations_file)
        run = {
            "target": target.describe() if target is not None else {"url": shown},
            "preflight": [finding.__dict__ for finding in config.stash.get(FINDINGS_KEY, [])],
        }
        verdict = Verdict(
            target=shown,
            lines=judged,
            partial=any(not line.selected for line in lines),
            warnings=warnings(judged, waivers, attestations, today),
            run=run,
        )
        write(verdict, readiness_json)
        results = allure_evidence.results_dir(config)
        if results is not None:
            rewrite_as_lines(results, judged)
    if config.pluginmanager.has_plugin("readiness-allure"):
        partial = any(not line.selected for line in lines)
        drill_report = settings.reports_dir / "drill" / "latest.json"
        allure_evidence.finish(config, shown, readiness_json, drill_report, partial)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect_feature(file_path, parent, parent.config.stash[SETTINGS_KEY].features_dir)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS_KEY]
    if settings.target_url:
        target = f"readiness target: {redact_url(settings.target_url)}"
    else:
        database = redact_url(settings.database_url) if settings.database_url else "embedded PostgreSQL"
        redis_url = redact_url(settings.redis_url) if settings.redis_url else "embedded Redis"
        target = f"readiness target: embedded reference service ({database}, {redis_url})"
    given = [
        f"{name}={'on' if settings.flag(name) else redact_url(str(settings.text(name)))}"
        for name in (
            "gateways",
            "alert_rules",
            "prometheus_url",
            "drill_workflow",
            "workflows",
            "repo_settings",
            "security_report",
            "repository",
            "openapi",
            "outage_hooks",
            "paypal_sandbox",
            "load_report",
        )
        if settings.given(name)
    ]
    lines = [target, f"readiness features: {settings.features_dir}", f"python: {platform.python_version()}"]
    if given:
        lines.append("readiness options: " + ", ".join(given))
    return lines


@pytest.fixture(scope="session")
def readiness_settings(pytestconfig: pytest.Config) -> HarnessSettings:
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def readiness_target(pytestconfig: pytest.Config, readiness_settings: HarnessSettings) -> Target:
    """The deployment under test: a deployment resolved and probed before the first
    scenario, or the embedded default, started on first use and stopped at the end."""
    resolved = pytestconfig.stash.get(TARGET_KEY, None)
    if resolved is not None:
        return resolved
    if readiness_settings.embedded:
        return _start_embedded(pytestconfig)
    target = deployed_target(readiness_settings, None)
    pytestconfig.stash[TARGET_KEY] = target
    return target


@pytest.fixture(scope="session")
def webhook_client(readiness_target: Target) -> Iterator[WebhookClient]:
    with WebhookClient(readiness_target.url, verify=readiness_target.verify) as client:
        yield client


@pytest.fixture(scope="session")
def admin_client(readiness_target: Target) -> Iterator[AdminClient]:
    with AdminClient(
        readiness_target.url, readiness_target.secrets.admin_token, verify=readiness_target.verify
    ) as client:
        yield client


@pytest.fixture(scope="session")
def payment_gateway(readiness_target: Target, webhook_client: WebhookClient) -> GatewaySimulator:
    """The gateway, played by the harness: signed deliveries for made-up payments."""
    return GatewaySimulator(readiness_target, webhook_client)


@pytest.fixture
def record_evidence(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Attach JSON-serializable evidence to the current example (readiness.json, Allure)."""

    def record(name: str, value: Any) -> None:
        request.node.user_properties.append((EVIDENCE_PREFIX + name, value))
        if request.config.pluginmanager.has_plugin("readiness-allure"):
            allure_evidence.attach_json(name, value)

    return record


@pytest.fixture(scope="session")
def attestations(readiness_settings: HarnessSettings) -> Attestations:
    """The human items' sign-offs; a broken file fails the lines that read it."""
    return load_attestations(readiness_settings.attestations_file)


@pytest.fixture
def checklist_so_far(pytestconfig: pytest.Config) -> list[ChecklistLine]:
    """The checklist lines of this run with the outcomes recorded up to now."""
    return pytestconfig.stash[RECORDER_KEY].ordered()


@pytest.fixture
def outages(readiness_target: Target) -> Iterator[Outages]:
    """The target's outage control (not measured without hooks and permission); every
    part a scenario stopped is started again when it ends, whatever its outcome."""
    control: Outages = readiness_target.require("outages")
    try:
        yield control
    finally:
        control.restore_all()
