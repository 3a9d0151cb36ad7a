"""Steps for the Monitoring area: the target's alerting rules, Prometheus, Alertmanager,
logs, error sink, daily checks and weekly reviews; and backups in operation.

Steps talk to fixtures only: `readiness_monitoring` (the target's Prometheus,
Alertmanager and logs; the embedded default's, started on first use), `payment_gateway`,
`restore_drill`. What makes an alert's condition real lives in
`readiness_harness.monitoring.conditions`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.drill.harness import DrillHarness, HostRun
from readiness_harness.drill.playbooks import PlaybookRun
from readiness_harness.gateways.clients import Reply
from readiness_harness.gateways.events import Delivery, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.monitoring import alertmanager as am
from readiness_harness.monitoring import conditions, history, promtool, reviews
from readiness_harness.monitoring.access import MonitoringAccess
from readiness_harness.monitoring.drill_evidence import record_drill
from readiness_harness.monitoring.keymetrics import Measurement, Threshold, Window, delta, key_metric
from readiness_harness.monitoring.logs import find_delivery, missing_fields
from readiness_harness.monitoring.prometheus import PrometheusClient
from readiness_harness.monitoring.rule_checks import probe_threshold, unit_test_cases
from readiness_harness.monitoring.rules import (
    AlertRule,
    RuleSet,
    load_rule_files,
    parse_duration,
    runbook_problems,
)
from readiness_harness.monitoring.security_scan import scan_reference_service
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.resolve import REFERENCE_RULES
from readiness_harness.target.stack import EmbeddedDeployment, private_folder
from readiness_harness.target.target import Target

Evidence = Callable[[str, Any], None]
DRILL_HISTORY_DAYS = 28
"""The drill history the key metric reads: four weekly drills."""
SCRAPE_WAIT_S = {True: 15.0, False: 180.0}
"""How long a line waits for Prometheus to see new samples: embedded (1 s scrapes), target."""
PLOTTED = frozenset({"restore drill results", "performance metrics", "error trend analysis"})


def _shown(rule: AlertRule) -> str:
    return f"{rule.name} ({rule.source})"


# ---- the target's rules ----------------------------------------------------------


@given("the target's alerting rules", target_fixture="alert_rules")
def _(readiness_target: Target, record_evidence: Evidence) -> RuleSet:
    source = readiness_target.require("alert_rules")
    if isinstance(source, Path):
        rules = load_rule_files(source)
    else:
        with PrometheusClient(str(source)) as client:
            rules = client.rules()
    assert rules.rules, f"no alerting rule in {rules.source}"
    record_evidence("alert_rules", {"source": rules.source, "alerts": rules.names})
    return rules


@then(parsers.parse('the rule "{alert}" exists with a severity, a summary and a runbook link'))
def _(alert_rules: RuleSet, alert: str, record_evidence: Evidence) -> None:
    rule = alert_rules.get(alert)
    assert rule is not None, (
        f"no alerting rule {alert!r} in {alert_rules.source}: the target does not alert on it"
    )
    record_evidence(
        "rule",
        {
            "alert": rule.name,
            "expr": rule.expr,
            "for_s": rule.hold_s,
            "labels": rule.labels,
            "annotations": rule.annotations,
        },
    )
    assert rule.severity, f"{_shown(rule)} has no severity label: routing cannot tell a page from a ticket"
    assert rule.annotations.get("summary"), f"{_shown(rule)} has no summary annotation"
    root = Path(rule.source).parent if Path(rule.source).is_file() else None
    problems = runbook_problems(rule, root)
    assert not problems, f"{_shown(rule)}: {'; '.join(problems)}"


@then(
    parsers.parse(
        'on the checklist\'s metrics "{alert}" fires just above {threshold} of {measure} '
        "and stays quiet just below, past its hold time"
    )
)
def _(alert_rules: RuleSet, alert: str, threshold: str, measure: str, record_evidence: Evidence) -> None:
    probe = probe_threshold(alert_rules, alert, measure, threshold)
    record_evidence("threshold_probe", probe.evidence())
    assert probe.fires_above, (
        f"{alert} does not fire just above {threshold} of {measure} (evaluated "
        f"{probe.eval_time_s / 60:g} minutes in, past its for:): its threshold is higher than the "
        f"checklist's, or it reads other metrics\n{probe.output[-1500:]}"
    )
    assert probe.quiet_below, (
        f"{alert} is pending or firing just below {threshold} of {measure}: its threshold is lower than the "
        f"checklist's\n{probe.output[-1500:]}"
    )


@given("the target's alerting rule files", target_fixture="alert_rules")
def _(readiness_target: Target, record_evidence: Evidence) -> RuleSet:
    rules = load_rule_files(readiness_target.require("rule_files"))
    record_evidence(
        "rule_files",
        {"rules": [str(p) for p in rules.rule_files], "tests": [str(p) for p in rules.test_files]},
    )
    return rules


@then("promtool accepts the rules")
def _(alert_rules: RuleSet) -> None:
    for rule_file in alert_rules.rule_files:
        result = promtool.check_rules(rule_file)
        assert result.returncode == 0, f"promtool check rules {rule_file}:\n{result.stdout}{result.stderr}"


@then("promtool's unit tests of the rules pass")
def _(alert_rules: RuleSet, record_evidence: Evidence) -> None:
    assert alert_rules.test_files, (
        f"no promtool unit-test file (a YAML document with `tests:`) beside the rules in {alert_rules.source}"
    )
    for test_file in alert_rules.test_files:
        result = promtool.test_rules(test_file)
        assert result.returncode == 0, f"promtool test rules {test_file}:\n{result.stdout}{result.stderr}"
    record_evidence("promtool_tests", [str(path) for path in alert_rules.test_files])


@then("the unit tests make each of these alerts fire, and keep it quiet past its hold time:")
def _(alert_rules: RuleSet, datatable: list[list[str]], record_evidence: Evidence) -> None:
    required = [row[0].strip() for row in datatable[1:]]
    cases = unit_test_cases(alert_rules.test_files, alert_rules)
    problems = []
    summary = {}
    for alert in required:
        firing = [case for case in cases if case.alert == alert and case.fires]
        quiet = [case for case in cases if case.alert == alert and not case.fires]
        counted = [case for case in quiet if case.quiet_past_hold]
        summary[alert] = {
            "firing": [case.shown() for case in firing],
            "quiet past its for:": [case.shown() for case in counted],
            "not counted as quiet": {
                case.shown(): case.why_not for case in quiet if not case.quiet_past_hold
            },
        }
        if alert_rules.get(alert) is None:
            problems.append(f"{alert}: no such rule")
        if not firing:
            problems.append(f"{alert}: no unit test makes it fire")
        if not counted:
            why = "; ".join(f"{case.shown()}: {case.why_not}" for case in quiet) or "no quiet case at all"
            problems.append(f"{alert}: no unit test keeps it quiet past its for: ({why})")
    record_evidence("unit_test_cases", summary)
    assert not problems, "the rules' unit tests do not prove their alerts:\n" + "\n".join(problems)


# ---- Alertmanager's configuration ------------------------------------------------


@given("the target's Alertmanager configuration", target_fixture="alertmanager_config")
def _(readiness_target: Target, readiness_monitoring: MonitoringAccess, tmp_path: Path) -> Path:
    readiness_target.require("alertmanager")
    if readiness_target.embedded:
        return REFERENCE_RULES / "alertmanager.yml"
    # The running configuration, as Alertmanager shows it: secrets are masked as <secret>,
    # which amtool would refuse as URLs; any valid stand-in checks the rest the same.
    text = (
        readiness_monitoring.alertmanager().config_text().replace("<secret>", "https://secret.invalid/masked")
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    return path


@then("amtool accepts the configuration")
def _(alertmanager_config: Path) -> None:
    result = am.check_config(alertmanager_config)
    assert result.returncode == 0, (
        f"amtool check-config {alertmanager_config}:\n{result.stdout}{result.stderr}"
    )


@then("amtool routes every alert of the rules to a receiver that notifies someone")
def _(alert_rules: RuleSet, alertmanager_config: Path, record_evidence: Evidence) -> None:
    notifies = am.receivers_that_notify(am.load_config(alertmanager_config))
    routed = {}
    problems = []
    for rule in alert_rules.rules:
        route = am.routes_test(alertmanager_config, {"alertname": rule.name, **rule.labels})
        routed[rule.name] = {"labels": dict(route.labels), "receivers": list(route.receivers)}
        silent = [name for name in route.receivers if not notifies.get(name)]
        if not route.receivers:
            problems.append(f"{rule.name} reaches no receiver")
        elif silent:
            problems.append(
                f"{rule.name} reaches {', '.join(silent)}, which notifies nobody (no integration)"
            )
    record_evidence("routes", {"receivers": notifies, "alerts": routed})
    assert not problems, "\n".join(problems)


# ---- Prometheus scrapes the service ----------------------------------------------


@given("the target's Prometheus", target_fixture="prometheus")
def _(readiness_monitoring: MonitoringAccess) -> PrometheusClient:
    return readiness_monitoring.prometheus()


@then("Prometheus scrapes the service and every instance is up")
def _(
    prometheus: PrometheusClient, readiness_monitoring: MonitoringAccess, record_evidence: Evidence
) -> None:
    jobs = readiness_monitoring.jobs()
    targets = [t for t in prometheus.targets() if str(t.get("labels", {}).get("job", "")) in jobs.split("|")]
    record_evidence(
        "scrape_targets",
        [
            {key: target.get(key) for key in ("scrapeUrl", "health", "lastError", "lastScrape", "labels")}
            for target in targets
        ],
    )
    assert targets, f"Prometheus at {prometheus.shown_url} has no scrape target for the jobs {jobs}"
    down = [f"{t.get('scrapeUrl')}: {t.get('lastError')}" for t in targets if t.get("health") != "up"]
    assert not down, "instances not up: " + "; ".join(down)
    up = prometheus.vector(f'up{{job=~"{jobs}"}}')
    assert up and all(sample.value == 1 for sample in up), f"up{{job=~{jobs!r}}}: {up}"


def _accepted(prometheus: PrometheusClient, jobs: str, gateway: str) -> float:
    expr = (
        f'sum(webhook_deliveries_total{{job=~"{jobs}",gateway="{gateway}",outcome="accepted"}}) or vector(0)'
    )
    return prometheus.scalar(expr) or 0.0


def _wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@then("a capture raises the accepted deliveries Prometheus records for its gateway")
def _(
    prometheus: PrometheusClient,
    readiness_monitoring: MonitoringAccess,
    payment_gateway: GatewaySimulator,
    record_evidence: Evidence,
) -> None:
    jobs = readiness_monitoring.jobs()
    gateway = payment_gateway.require(payment_gateway.primary)
    before = _accepted(prometheus, jobs, gateway)
    reply = payment_gateway.send(payment_gateway.capture(Payment.new(gateway, "441", "black")))
    assert reply.ok, f"the capture answered {reply.status_code}: {reply.body}" + payment_gateway.secret_hint(
        reply
    )
    timeout = SCRAPE_WAIT_S[readiness_monitoring.embedded]
    moved = _wait_for(lambda: _accepted(prometheus, jobs, gateway) >= before + 1, timeout)
    after = _accepted(prometheus, jobs, gateway)
    record_evidence("accepted_deliveries", {"gateway": gateway, "before": before, "after": after})
    assert moved, (
        f"Prometheus still records {after:g} accepted {gateway} deliveries {timeout:g}s after one more"
    )


# ---- key metrics over the run's window -------------------------------------------


@dataclass
class RunTraffic:
    sent: int = 0
    answered: dict[int, int] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0


@pytest.fixture(scope="session")
def key_metric_traffic() -> RunTraffic:
    """The signed captures the key-metric lines deliver, once per run."""
    return RunTraffic()


@given(parsers.parse("{count:d} signed captures have been delivered in this run"))
def _(
    count: int,
    key_metric_traffic: RunTraffic,
    payment_gateway: GatewaySimulator,
    prometheus: PrometheusClient,
    readiness_monitoring: MonitoringAccess,
) -> None:
    traffic = key_metric_traffic
    if traffic.sent >= count:
        return
    gateways = [name for name in ("standard", "stripe", "paypal") if readiness_monitoring.target.uses(name)]
    usable = []
    for name in gateways:
        with contextlib.suppress(pytest.skip.Exception):
            usable.append(payment_gateway.require(name))
    if not usable:
        payment_gateway.require(payment_gateway.primary)  # ends the example saying why
    jobs = readiness_monitoring.jobs()
    before = prometheus.scalar(f'sum(webhook_deliveries_total{{job=~"{jobs}"}}) or vector(0)') or 0.0
    traffic.started_at = time.time()
    deliveries = [
        payment_gateway.capture(Payment.new(usable[index % len(usable)], "442", "black"))
        for index in range(count)
    ]
    for start in range(0, count, 8):
        for reply in payment_gateway.send_concurrently(deliveries[start : start + 8]):
            traffic.answered[reply.status_code] = traffic.answered.get(reply.status_code, 0) + 1
    traffic.sent = count
    traffic.finished_at = time.time()
    seen = _wait_for(
        lambda: (
            (prometheus.scalar(f'sum(webhook_deliveries_total{{job=~"{jobs}"}}) or vector(0)') or 0)
            >= before + count
        ),
        SCRAPE_WAIT_S[readiness_monitoring.embedded],
    )
    assert seen, (
        f"Prometheus did not see the {count} captures the harness delivered (answers: {traffic.answered})"
    )


@when(
    parsers.parse('Prometheus is asked for the key metric "{metric}" over the run\'s window'),
    target_fixture="measurement",
)
def _(
    metric: str,
    prometheus: PrometheusClient,
    readiness_monitoring: MonitoringAccess,
    request: pytest.FixtureRequest,
    record_evidence: Evidence,
) -> Measurement:
    start = readiness_monitoring.window_start()
    extra: dict[str, Any] = {}
    if metric == "restore drill success rate":
        start, extra = _drill_for_key_metric(
            readiness_monitoring, prometheus, request, start, record_evidence
        )
    measured = key_metric(metric)(prometheus, Window(start, time.time()), readiness_monitoring.jobs())
    record_evidence("key_metric", measured.evidence() | extra)
    return measured


def _drill_for_key_metric(
    monitoring: MonitoringAccess,
    prometheus: PrometheusClient,
    request: pytest.FixtureRequest,
    start: float,
    record_evidence: Evidence,
) -> tuple[float, dict[str, Any]]:
    """On the embedded default, this run's drill (shared with the drill lines) runs first,
    and the window starts once Prometheus has its result. Either way the drill history of
    the last 28 days must hold drills, all passed."""
    extra: dict[str, Any] = {}
    if monitoring.embedded:
        harness: DrillHarness = request.getfixturevalue("restore_drill")
        run = harness.passing_drill(request.getfixturevalue("fleet_host"))
        assert run.passed, f"this run's restore drill failed:\n{run.drill.stdout[-2000:]}"
        finished = time.time()
        _wait_for(lambda: bool(prometheus.vector("restore_drill_last_run_passed")), SCRAPE_WAIT_S[True])
        time.sleep(2.5)  # two more scrapes, so the window holds samples of this drill only
        start = max(start, finished + 1)
        extra["this_runs_drill_report"] = (run.report or {}).get("report_file")
    history_file: Path = monitoring.target.require("drill_history")
    records = history.since(
        history.load_history(history_file), datetime.now(UTC) - timedelta(days=DRILL_HISTORY_DAYS)
    )
    rate = history.success_rate(records)
    extra["history"] = {
        "file": str(history_file),
        "days": DRILL_HISTORY_DAYS,
        "drills": len(records),
        "success_rate": rate,
        "failed": [record.as_dict() for record in records if not record.passed],
    }
    record_evidence("drill_history", extra["history"])
    assert records, f"the drill history {history_file} holds no drill of the last {DRILL_HISTORY_DAYS} days"
    failed = [record for record in records if not record.passed]
    assert rate == 1.0, (
        f"{len(failed)} of {len(records)} drills of the last {DRILL_HISTORY_DAYS} days failed: "
        + "; ".join(f"{r.host} {r.finished_at:%Y-%m-%d} ({(r.failure or {}).get('check')})" for r in failed)
    )
    return start, extra


@then(parsers.parse('the key metric "{metric}" is {threshold}'))
def _(measurement: Measurement, threshold: str) -> None:
    limit = Threshold.parse(threshold)
    assert measurement.value is not None, (
        f"{measurement.metric}: no data over the run's window ({measurement.window.seconds}s): "
        f"{measurement.query}"
    )
    assert limit.holds(measurement.value), (
        f"{measurement.metric} is {measurement.shown()}, not {limit.text} over the run's window "
        f"({measurement.window.seconds}s): {measurement.query}"
    )


# ---- logs ------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedDelivery:
    delivery: Delivery
    reply: Reply
    sent_at: float


@given("the target's aggregated logs", target_fixture="aggregated_logs")
def _(readiness_monitoring: MonitoringAccess) -> Any:
    return readiness_monitoring.logs()


@when("a capture for a new payment is delivered", target_fixture="logged_delivery")
def _(payment_gateway: GatewaySimulator) -> LoggedDelivery:
    payment = Payment.new(payment_gateway.require(payment_gateway.primary), "451", "black")
    delivery = payment_gateway.capture(payment)
    sent_at = time.time()
    reply = payment_gateway.send(delivery)
    assert reply.ok, f"the capture answered {reply.status_code}: {reply.body}" + payment_gateway.secret_hint(
        reply
    )
    return LoggedDelivery(delivery, reply, sent_at)


@then("its log entry is found by its event id with gateway, type, outcome, status, latency and instance")
def _(
    aggregated_logs: Any,
    logged_delivery: LoggedDelivery,
    readiness_monitoring: MonitoringAccess,
    record_evidence: Evidence,
) -> None:
    event_id = logged_delivery.delivery.event_id
    timeout = 10.0 if readiness_monitoring.embedded else 120.0
    found = find_delivery(aggregated_logs, event_id, logged_delivery.sent_at, timeout)
    record_evidence("log_entries", {"where": aggregated_logs.where, "event_id": event_id, "entries": found})
    assert found, f"no log entry with event_id {event_id} in {aggregated_logs.where} within {timeout:g}s"
    complete = [entry for entry in found if not missing_fields(entry)]
    assert complete, f"the log entry of {event_id} lacks {', '.join(missing_fields(found[0]))}: {found[0]}"
    entry = complete[0]
    assert (
        entry.get("outcome") == "accepted"
        and int(entry.get("status", 0)) == logged_delivery.reply.status_code
    ), entry


@then("no secret or signature appears in the logs")
def _(
    aggregated_logs: Any,
    logged_delivery: LoggedDelivery,
    payment_gateway: GatewaySimulator,
    readiness_monitoring: MonitoringAccess,
) -> None:
    sensitive = payment_gateway.sensitive_values(logged_delivery.delivery)
    entries = aggregated_logs.entries(readiness_monitoring.session_start - 60)
    text = "\n".join(json.dumps(entry) for entry in entries)
    leaked = [value for value in sensitive if value and value in text]
    assert not leaked, f"{len(leaked)} secret or signature values appear in {aggregated_logs.where}"


# ---- daily checks and weekly reviews ---------------------------------------------


def review_sources(
    target: Target,
    settings: HarnessSettings,
    monitoring: MonitoringAccess,
    gateway: GatewaySimulator,
    request: pytest.FixtureRequest,
) -> reviews.Sources:
    """What the reviews read on this target; each source the run was not given is None."""
    hints = {
        "prometheus": "--prometheus-url",
        "logs": "--loki-url",
        "drill reports folder": "--drill-history",
        "backup folder": "--backup-path",
        "security report": "--security-report",
        "measured capacity": "readiness weekly --capacity-rps",
    }
    sources = reviews.Sources(hints=hints)
    sources.status = lambda: (lambda reply: (reply.status_code, reply.body))(gateway.client.get("/status"))
    sources.secret_values = tuple(secret.reveal() for secret in target.secrets.values())
    if target.has("prometheus"):
        sources.prometheus = monitoring.prometheus()
        sources.jobs = monitoring.jobs()
        if target.embedded:
            sources.data_start = monitoring.window_start()
    if target.has("alertmanager"):
        sources.alertmanager = monitoring.alertmanager()
    if target.has("logs"):
        sources.logs = monitoring.logs()
    if target.has("drill_history"):
        sources.drill_dir = Path(target.provided["drill_history"]).parent
    if target.has("security_report"):
        report = Path(target.provided["security_report"])
        if target.embedded and not settings.given("security_report") and not report.exists():
            # make readiness writes reports/security first; a run without it scans the
            # reference service's code here (bandit, offline)
            folder = private_folder("readiness-security-scan-")
            request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
            report = scan_reference_service(folder)
        sources.security_report = report
    if target.embedded:
        harness: DrillHarness = request.getfixturevalue("restore_drill")
        sources.backup_dir = Path(harness.passing_drill(request.getfixturevalue("fleet_host")).backup_dir)
        deployment = target.servers
        if isinstance(deployment, EmbeddedDeployment) and deployment.error_sink is not None:
            sources.error_reports = deployment.error_sink.reports
    elif isinstance(target.provided.get("backups"), Path):
        sources.backup_dir = target.provided["backups"]
    return sources


REVIEW_TRAFFIC = 10


def _synthetic_traffic(gateway: GatewaySimulator, monitoring: MonitoringAccess) -> None:
    """The embedded default's Prometheus starts with the run, so its day holds only what the
    run sent: a few signed captures first, as the daily job does, so the review has
    deliveries to read whatever lines ran before."""
    prometheus = monitoring.prometheus()
    total = 'sum(webhook_deliveries_total{job="cardpack"}) or vector(0)'
    before = prometheus.scalar(total) or 0.0
    primary = gateway.require(gateway.primary)
    replies = gateway.send_concurrently(
        [gateway.capture(Payment.new(primary, "491", "black")) for _ in range(REVIEW_TRAFFIC)]
    )
    assert all(reply.ok for reply in replies), [reply.status_code for reply in replies]
    _wait_for(lambda: (prometheus.scalar(total) or 0.0) >= before + REVIEW_TRAFFIC, SCRAPE_WAIT_S[True])
    time.sleep(1.5)  # the log file and one more scrape catch up


@pytest.fixture(scope="session")
def _reviews_cache() -> dict[str, reviews.Review]:
    return {}


def _review(kind: str, request: pytest.FixtureRequest, cache: dict[str, reviews.Review]) -> reviews.Review:
    if kind not in cache:
        target: Target = request.getfixturevalue("readiness_target")
        settings: HarnessSettings = request.getfixturevalue("readiness_settings")
        monitoring: MonitoringAccess = request.getfixturevalue("readiness_monitoring")
        gateway: GatewaySimulator = request.getfixturevalue("payment_gateway")
        sources = review_sources(target, settings, monitoring, gateway, request)
        if target.embedded:
            _synthetic_traffic(gateway, monitoring)
        thresholds = reviews.thresholds_from_feature(settings.features_dir / "monitoring.feature")
        cache[kind] = (reviews.daily if kind == "daily" else reviews.weekly)(sources, thresholds)
    return cache[kind]


@given("the daily checks have run on the target", target_fixture="review")
def _(request: pytest.FixtureRequest, _reviews_cache: dict[str, reviews.Review]) -> reviews.Review:
    return _review("daily", request, _reviews_cache)


@given("the weekly review has run on the target", target_fixture="review")
def _(request: pytest.FixtureRequest, _reviews_cache: dict[str, reviews.Review]) -> reviews.Review:
    return _review("weekly", request, _reviews_cache)


def _judge_check(
    review: reviews.Review, name: str, threshold: str, record_evidence: Evidence
) -> reviews.Check:
    check = review.check(name)
    record_evidence(
        f"{review.kind}_check", check.as_dict() | {"details": check.details, "threshold": threshold}
    )
    if check.status == reviews.NOT_MEASURED:
        not_measured(f"the {review.kind} check {name!r}: {check.summary}")
    assert check.status in (reviews.OK, reviews.WARNING), (
        f"{review.kind} check {name!r} breached: {check.summary}"
    )
    return check


@then(parsers.parse('the daily check "{check}" was measured and is within {threshold}'))
def _(review: reviews.Review, check: str, threshold: str, record_evidence: Evidence) -> None:
    _judge_check(review, check, threshold, record_evidence)


@then(
    parsers.parse('the weekly review "{check}" was measured and is within {threshold}'),
    target_fixture="review_check",
)
def _(
    review: reviews.Review,
    check: str,
    threshold: str,
    record_evidence: Evidence,
    attach_svg: Callable[[str, str], None],
) -> reviews.Check:
    for name, svg in sorted(review.check(check).plots.items()):  # a breach shows its plots too
        attach_svg(name, svg)
    return _judge_check(review, check, threshold, record_evidence)


@then("its plots are attached to the report")
def _(review_check: reviews.Check) -> None:
    if review_check.name in PLOTTED:
        assert review_check.plots, f"the weekly review {review_check.name!r} drew no plot"
    for name, svg in sorted(review_check.plots.items()):
        assert svg.lstrip().startswith("<svg") and "</svg>" in svg, f"{name} is not an SVG document"


# ---- error monitoring ------------------------------------------------------------


@dataclass
class ProvokedError:
    payment: Payment
    reply: Reply
    at: float
    sent_before: float


@then("the service says an error sink is configured, without showing it")
def _(payment_gateway: GatewaySimulator, readiness_target: Target, record_evidence: Evidence) -> None:
    reply = payment_gateway.client.get("/status")
    record_evidence("status_error_sink", {"error_sink": reply.body.get("error_sink")})
    assert reply.body.get("error_sink") is True, (
        f"/status says error_sink={reply.body.get('error_sink')!r}: unhandled errors are counted but "
        "reported nowhere "
        "(set ERROR_SINK_URL)"
    )
    deployment = readiness_target.servers
    if isinstance(deployment, EmbeddedDeployment) and deployment.error_sink is not None:
        assert deployment.error_sink.url.reveal() not in json.dumps(reply.body), (
            "/status shows the sink's URL"
        )
    assert "://" not in json.dumps(reply.body.get("error_sink")), "/status shows the sink's URL"


@then("the service exposes unhandled_errors_total and a rule alerts on it")
def _(payment_gateway: GatewaySimulator, alert_rules: RuleSet) -> None:
    status, text = payment_gateway.client.get_text("/metrics")
    assert status == 200, f"/metrics answered {status}"
    assert "unhandled_errors_total" in text, (
        "/metrics has no unhandled_errors_total: unhandled errors go uncounted"
    )
    alerting = [rule.name for rule in alert_rules.rules if "unhandled_errors_total" in rule.expr]
    assert alerting, f"no alerting rule in {alert_rules.source} reads unhandled_errors_total"


def _reports_sent(prometheus: PrometheusClient, jobs: str) -> float:
    return prometheus.scalar(f'sum(error_reports_total{{job=~"{jobs}",result="sent"}}) or vector(0)') or 0.0


@when("a delivery meets an unexpected error in the service", target_fixture="provoked")
def _(
    readiness_target: Target,
    payment_gateway: GatewaySimulator,
    prometheus: PrometheusClient,
    readiness_monitoring: MonitoringAccess,
) -> ProvokedError:
    database_url: str = readiness_target.require("database")
    if not readiness_target.embedded:
        readiness_target.require("outages")  # breaking the target's schema is disruptive: asked for twice
    gateway = payment_gateway.require(payment_gateway.primary)
    before = _reports_sent(prometheus, readiness_monitoring.jobs())
    payment = Payment.new(gateway, "471", "black")
    with conditions.missing_function(database_url):
        at = time.time()
        reply = payment_gateway.send(payment_gateway.capture(payment))
    assert reply.status_code == 500, (
        f"a capture whose stored function is missing answered {reply.status_code} {reply.body}, not 500"
    )
    return ProvokedError(payment, reply, at, before)


@then("the error sink receives the report with its event id and no secret")
def _(
    provoked: ProvokedError,
    readiness_target: Target,
    prometheus: PrometheusClient,
    readiness_monitoring: MonitoringAccess,
    payment_gateway: GatewaySimulator,
    record_evidence: Evidence,
) -> None:
    deployment = readiness_target.servers
    jobs = readiness_monitoring.jobs()
    timeout = SCRAPE_WAIT_S[readiness_monitoring.embedded]
    sent = _wait_for(lambda: _reports_sent(prometheus, jobs) >= provoked.sent_before + 1, timeout)
    evidence: dict[str, Any] = {"error_reports_sent": _reports_sent(prometheus, jobs) - provoked.sent_before}
    if isinstance(deployment, EmbeddedDeployment) and deployment.error_sink is not None:
        report = deployment.error_sink.wait_for_event(provoked.payment.capture_event_id, 10)
        evidence["report"] = report
        record_evidence("error_report", evidence)
        assert report is not None, f"the error sink got no report for {provoked.payment.capture_event_id}"
        text = json.dumps(report)
        leaked = [v for v in (s.reveal() for s in readiness_target.secrets.values()) if v and v in text]
        assert not leaked, f"the error report carries {len(leaked)} secret values"
        assert report.get("exception") and report.get("traceback") is not None, report
    else:
        record_evidence("error_report", evidence)
    assert sent, (
        'error_reports_total{result="sent"} did not grow: the service did not report the error to its sink, '
        "or the sink refused it"
    )


@then("unhandled_errors_total in Prometheus counts it")
def _(provoked: ProvokedError, prometheus: PrometheusClient, readiness_monitoring: MonitoringAccess) -> None:
    jobs = readiness_monitoring.jobs()

    def counted() -> bool:
        window = Window(provoked.at - 5, time.time())
        return (prometheus.scalar(delta(f'unhandled_errors_total{{job=~"{jobs}"}}', window)) or 0) >= 1

    assert _wait_for(counted, SCRAPE_WAIT_S[readiness_monitoring.embedded]), (
        "unhandled_errors_total in Prometheus did not count the error"
    )


# ---- alerts delivered end to end -------------------------------------------------


@dataclass
class Alerting:
    prometheus: PrometheusClient
    alertmanager: am.AlertmanagerClient
    monitoring: MonitoringAccess


@given("the target's Prometheus and Alertmanager", target_fixture="alerting")
def _(readiness_monitoring: MonitoringAccess) -> Alerting:
    return Alerting(
        readiness_monitoring.prometheus(), readiness_monitoring.alertmanager(), readiness_monitoring
    )


def _loaded_rule(alerting: Alerting, alert: str) -> AlertRule:
    rule = alerting.prometheus.rules().get(alert)
    assert rule is not None, f"the target's Prometheus has no rule {alert!r} loaded"
    return rule


def _settle_time(rule: AlertRule) -> float:
    """How long the alert can stay active after its condition ends: its longest range
    window plus its for:, plus a few evaluations."""
    import re

    windows = [
        parse_duration(match)
        for match in re.findall(r"\[(\d+(?:ms|s|m|h|d|w|y)(?:\d+(?:ms|s|m|h|d|w|y))*)", rule.expr)
    ]
    return max(windows, default=0.0) + rule.hold_s + 5.0


def _active(alerting: Alerting, alert: str, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    return [
        item
        for item in alerting.prometheus.alerts()
        if item.get("labels", {}).get("alertname") == alert
        and all(item["labels"].get(k) == v for k, v in (labels or {}).items())
    ]


@given(parsers.parse('the alert "{alert}" is quiet on the target'))
def _(alerting: Alerting, alert: str) -> None:
    rule = _loaded_rule(alerting, alert)
    limit = _settle_time(rule) * 2
    quiet = _wait_for(lambda: not _active(alerting, alert), limit)
    assert quiet, (
        f"{alert} is already {[a.get('state') for a in _active(alerting, alert)]} on the target "
        f"(waited {limit:g}s): its condition holds before the line makes it real"
    )


@pytest.fixture
def alert_condition() -> Iterator[contextlib.ExitStack]:
    """The condition a line makes real: undone when the line ends, whatever its outcome."""
    with contextlib.ExitStack() as stack:
        yield stack


def _condition(
    text: str,
    target: Target,
    simulator: GatewaySimulator,
    monitoring: MonitoringAccess,
    request: pytest.FixtureRequest,
) -> contextlib.AbstractContextManager[conditions.ActiveCondition]:
    if text.startswith("PayPal's verification API"):
        sandbox = target.require("paypal_signing")
        if text.endswith("fails while PayPal deliveries arrive"):
            if not target.uses("paypal"):
                return conditions.database_stopped(target.require("outages"), simulator, simulator.primary)
            simulator.require("paypal")
            return conditions.paypal_verification(sandbox, simulator, unavailable=True)
        if not target.uses("paypal"):
            not_measured(
                "the harness makes deliveries slow through the PayPal sandbox, and the target does "
                "not use PayPal"
            )
        simulator.require("paypal")
        return conditions.paypal_verification(sandbox, simulator, delay_s=11.0)
    if text == "the database is stopped while deliveries arrive":
        return conditions.database_stopped(
            target.require("outages"), simulator, simulator.require(simulator.primary)
        )
    if text == "Redis is stopped while the status is polled":
        return conditions.cache_stopped(target.require("outages"), lambda: simulator.client.get("/status"))
    if text == "deliveries meet an unexpected error in the service":
        database_url = target.require("database")
        if not target.embedded:
            target.require("outages")
        return conditions.unexpected_errors(database_url, simulator, simulator.require(simulator.primary))
    if text == "a restore drill runs on a corrupted backup":
        return _failed_drill(target, monitoring, request)
    raise ValueError(f"no way to make real: {text!r}")


@contextlib.contextmanager
def _failed_drill(
    target: Target, monitoring: MonitoringAccess, request: pytest.FixtureRequest
) -> Iterator[conditions.ActiveCondition]:
    """A real drill on a corrupted copy of the newest backup, whose textfile a node_exporter
    then serves to the embedded Prometheus (a target's Prometheus reads its own exporters,
    not the harness's folders)."""
    if not target.embedded:
        not_measured(
            "the target's Prometheus reads the drill metrics of its own node_exporter, not the reports of a "
            "drill the harness runs: make a drill fail on the target and watch RestoreDrillFailed by hand"
        )
    harness: DrillHarness = request.getfixturevalue("restore_drill")
    host = request.getfixturevalue("fleet_host")
    started = time.time()
    run: HostRun = harness.drill_on_damaged_backup(host, "corrupted")
    assert not run.passed, "the drill on a corrupted backup passed: it cannot make RestoreDrillFailed real"
    # The damaged drill's folder is gone with its run: its report, written again by the
    # drill's own evidence writer, into a folder a node_exporter of the embedded monitoring reads.
    folder = private_folder("readiness-failed-drill-")
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    textfiles = record_drill(folder, run.drill_host, run.report)
    assert textfiles, f"the drill's evidence writer wrote no textfile in {folder}"
    instance = monitoring.stack().watch_textfiles(folder, {"drill": "corrupted-backup"})
    yield conditions.ActiveCondition(
        "a restore drill on a corrupted backup",
        started,
        {"instance": instance},
        None,
        {"textfiles": [path.read_text() for path in textfiles]},
    )


@when(parsers.parse("{condition}, for real"), target_fixture="condition")
def _(
    condition: str,
    alert_condition: contextlib.ExitStack,
    readiness_target: Target,
    payment_gateway: GatewaySimulator,
    readiness_monitoring: MonitoringAccess,
    request: pytest.FixtureRequest,
) -> conditions.ActiveCondition:
    manager = _condition(condition, readiness_target, payment_gateway, readiness_monitoring, request)
    return alert_condition.enter_context(manager)


@then(
    parsers.parse('the alert "{alert}" fires in Prometheus on the target\'s own metrics'),
    target_fixture="fired",
)
def _(
    alerting: Alerting, alert: str, condition: conditions.ActiveCondition, record_evidence: Evidence
) -> dict[str, Any]:
    rule = _loaded_rule(alerting, alert)
    timeout = _settle_time(rule) + rule.hold_s + 30.0

    def firing() -> list[dict[str, Any]]:
        return [item for item in _active(alerting, alert, condition.labels) if item.get("state") == "firing"]

    _wait_for(lambda: bool(firing()), timeout)
    found = firing()
    record_evidence("condition", condition.summary())
    assert found, (
        f"{alert} did not fire within {timeout:g}s while {condition.description} "
        f"(active now: {[(a['labels'], a.get('state')) for a in _active(alerting, alert)]}; "
        f"answers to the traffic: {condition.summary()['answers']})"
    )
    record_evidence("prometheus_alert", found[0])
    return found[0]


@then("it reaches its receiver with its labels, summary and runbook link")
def _(
    alerting: Alerting,
    fired: dict[str, Any],
    condition: conditions.ActiveCondition,
    alert_condition: contextlib.ExitStack,
    record_evidence: Evidence,
) -> None:
    labels = dict(fired["labels"])
    alert = labels["alertname"]
    held = alerting.alertmanager.wait_for_alert(alert, labels, timeout=60)
    assert held is not None, f"Alertmanager never received {alert} {labels} from Prometheus"
    receivers = [receiver.get("name") for receiver in held.get("receivers", [])]
    record_evidence("alertmanager_alert", held)
    assert receivers, f"Alertmanager routes {alert} to no receiver"
    stack = alerting.monitoring.stack() if alerting.monitoring.embedded else None
    if stack is not None:
        note = stack.receiver.wait_for(alert, labels, since=condition.started_at - 5, timeout=30)
        assert note is not None, (
            f"{alert} did not reach the receiver {receivers} within 30s of Alertmanager holding it"
        )
        record_evidence("notification", note.evidence())
        assert note.receiver in receivers, f"{alert} reached {note.receiver}, not {receivers}"
        assert note.labels.get("severity"), f"{alert} arrived without a severity label: {note.labels}"
        assert note.annotations.get("summary"), f"{alert} arrived without a summary: {note.annotations}"
        rule = AlertRule(
            alert, "", 0.0, note.labels, note.annotations, source=str(REFERENCE_RULES / "alerts.yml")
        )
        problems = runbook_problems(rule, REFERENCE_RULES)
        assert not problems, f"{alert} arrived with an unusable runbook link: {'; '.join(problems)}"
    else:
        annotations = held.get("annotations", {})
        assert annotations.get("summary") and annotations.get("runbook_url"), (
            f"{alert} reached {receivers} without a summary or runbook_url: {annotations}"
        )
    alert_condition.close()  # undo the condition now, not at teardown: the next line starts clean


# ---- backups in operation (the backup helper's lines) -----------------------------


@when("the infrastructure verification playbook runs", target_fixture="verify_run")
def _(restore_drill: DrillHarness, drill_run: HostRun) -> PlaybookRun:
    return restore_drill.verify_infra()


@then("it finds PostgreSQL and Redis answering and the backup folder private")
def _(verify_run: PlaybookRun, infra_host: Any, drill_run: HostRun) -> None:
    host = drill_run.host.name
    assert verify_run.recap(host).get("ok", 0) > 0, f"verify_infra did not run on {host}"
    assert verify_run.recap(host).get("failures", 0) == 0, (
        f"verify_infra failed on {host}:\n{verify_run.stdout[-3000:]}"
    )
    folder = infra_host.file(drill_run.backup_dir)
    assert folder.is_directory and folder.mode == 0o700, f"{folder.path} has mode {oct(folder.mode)}"


@then("no more backups are kept than the inventory's retention allows")
def _(restore_drill: DrillHarness, drill_run: HostRun) -> None:
    retention = restore_drill.retention(drill_run.host)
    backups = restore_drill.backups_in(drill_run.host, drill_run.backup_dir)
    assert 1 <= len(backups) <= retention, (
        f"{len(backups)} backups in {drill_run.backup_dir} on {drill_run.host.name}, "
        f"retention {retention}: {backups}"
    )


@then("a backup run prunes a folder holding more old backups than the retention down to the retention")
def _(restore_drill: DrillHarness, drill_run: HostRun) -> None:
    retention = restore_drill.retention(drill_run.host)
    before, after, run = restore_drill.pruning_run(drill_run.host)
    assert run.ok, f"the backup failed on {drill_run.host.name}:\n{run.stdout[-3000:]}"
    assert len(before) > retention, before
    assert len(after) == retention, f"kept {len(after)} of {len(before) + 1}, retention {retention}: {after}"
    new = set(after) - set(before)
    assert len(new) == 1, f"the new backup is not among the kept ones: {after}"
    assert set(after) - new == set(before[-(retention - 1) :]), "pruning did not remove the oldest backups"
