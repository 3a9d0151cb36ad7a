"""One test per alert family, end to end on real parts: the reference service on embedded
PostgreSQL and Redis, scraped by the embedded Prometheus with the repository's rules,
alerting through Alertmanager with the repository's routing to the harness's receiver.

Each test first runs the family's ordinary traffic past the rule's hold time and range
window (on the embedded 60x clock) and sees the alert stay quiet, not even pending; then
makes the condition real and sees the alert fire in Prometheus and arrive at the
receiver the routing tree names, with its labels, summary and runbook link.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from monitoring_kit import wait_until

from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.monitoring import conditions
from readiness_harness.monitoring.drill_evidence import record_drill
from readiness_harness.monitoring.embedded import EmbeddedMonitoring
from readiness_harness.monitoring.receiver import Notification
from readiness_harness.monitoring.rules import AlertRule, parse_duration, runbook_problems
from readiness_harness.target.outages import Outages
from readiness_harness.target.resolve import REFERENCE_RULES
from readiness_harness.target.stack import EmbeddedDeployment

RECEIVER_OF = {"page": "oncall-pager", "ticket": "ops-tickets"}
"""Where alertmanager.yml routes each severity."""


def _active(monitoring: EmbeddedMonitoring, alert: str) -> list[dict[str, Any]]:
    with monitoring.prometheus() as client:
        return [a for a in client.alerts() if a["labels"].get("alertname") == alert]


def _rule(monitoring: EmbeddedMonitoring, alert: str) -> AlertRule:
    with monitoring.prometheus() as client:
        rule = client.rules().get(alert)
    assert rule is not None, f"{alert} is not loaded"
    return rule


def _span(rule: AlertRule) -> float:
    """The loaded (compressed) rule's longest window plus its hold time."""
    windows = [parse_duration(w) for w in re.findall(r"\[(\d+(?:ms|s|m|h))", rule.expr)]
    return max(windows, default=0.0) + rule.hold_s


def _quiet_before(monitoring: EmbeddedMonitoring, alert: str) -> AlertRule:
    rule = _rule(monitoring, alert)
    assert wait_until(lambda: not _active(monitoring, alert), 3 * _span(rule) + 10), (
        f"{alert} is still active from an earlier test: {_active(monitoring, alert)}"
    )
    return rule


def _stays_quiet(monitoring: EmbeddedMonitoring, alert: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        active = _active(monitoring, alert)
        assert not active, f"{alert} went {active[0]['state']} under ordinary traffic: {active[0]['labels']}"
        time.sleep(0.5)


def _fires_and_arrives(
    monitoring: EmbeddedMonitoring, rule: AlertRule, labels: dict[str, str], since: float, extra_s: float = 0
) -> Notification:
    timeout = 2 * _span(rule) + 20 + extra_s
    assert wait_until(
        lambda: any(
            a["state"] == "firing" and all(a["labels"].get(k) == v for k, v in labels.items())
            for a in _active(monitoring, rule.name)
        ),
        timeout,
    ), f"{rule.name} {labels} did not fire within {timeout:g}s: {_active(monitoring, rule.name)}"
    note = monitoring.receiver.wait_for(rule.name, labels, since=since, timeout=30)
    assert note is not None, f"{rule.name} fired but never reached the receiver"
    severity = note.labels.get("severity", "")
    assert note.receiver == RECEIVER_OF[severity], f"{rule.name} ({severity}) reached {note.receiver}"
    assert note.annotations.get("summary"), note.annotations
    assert not runbook_problems(
        AlertRule(rule.name, "", 0, note.labels, note.annotations), REFERENCE_RULES
    ), note.annotations
    return note


@contextlib.contextmanager
def _traffic(send: Any, interval_s: float = 0.25, in_flight: int = 4) -> Iterator[conditions.Traffic]:
    with conditions.Traffic(send, interval_s=interval_s, in_flight=in_flight).running() as traffic:
        yield traffic


def test_failure_rate_pages_when_paypal_verification_fails(
    monitoring: EmbeddedMonitoring, deployment: EmbeddedDeployment, simulator: GatewaySimulator
) -> None:
    rule = _quiet_before(monitoring, "WebhookFailureRateHigh")
    assert deployment.sandbox is not None
    with _traffic(conditions.captures(simulator, "paypal")) as traffic:
        _stays_quiet(monitoring, rule.name, _span(rule) + 3)
    assert traffic.statuses().keys() == {200}, traffic.statuses()
    since = time.time()
    with conditions.paypal_verification(deployment.sandbox, simulator, unavailable=True) as condition:
        note = _fires_and_arrives(monitoring, rule, {"gateway": "paypal"}, since)
    assert condition.traffic is not None and 503 in condition.traffic.statuses(), condition.summary()
    assert note.labels["severity"] == "page"


def test_database_errors_page_when_the_database_stops(
    monitoring: EmbeddedMonitoring, simulator: GatewaySimulator, outages: Outages
) -> None:
    rule = _quiet_before(monitoring, "DatabaseConnectionErrors")
    with _traffic(conditions.captures(simulator, "standard")):
        _stays_quiet(monitoring, rule.name, _span(rule) + 3)
    since = time.time()
    with conditions.database_stopped(outages, simulator, "standard") as condition:
        _fires_and_arrives(monitoring, rule, {"dependency": "database"}, since)
    assert condition.traffic is not None and 503 in condition.traffic.statuses(), condition.summary()


def test_redis_errors_page_when_redis_stops(
    monitoring: EmbeddedMonitoring, simulator: GatewaySimulator, outages: Outages
) -> None:
    rule = _quiet_before(monitoring, "RedisConnectionErrors")
    assert wait_until(lambda: simulator.client.get("/status").status_code == 200, 30), (
        "the service is not ready"
    )
    with _traffic(lambda: simulator.client.get("/status")) as polls:
        _stays_quiet(monitoring, rule.name, _span(rule) + 3)
    assert polls.statuses().keys() == {200}, polls.statuses()
    since = time.time()
    with conditions.cache_stopped(outages, lambda: simulator.client.get("/status")):
        _fires_and_arrives(monitoring, rule, {"dependency": "redis"}, since)


def test_latency_pages_beyond_10_seconds_not_at_8(
    monitoring: EmbeddedMonitoring, deployment: EmbeddedDeployment, simulator: GatewaySimulator
) -> None:
    rule = _quiet_before(monitoring, "WebhookLatencyP99Above10s")
    assert deployment.sandbox is not None
    with (
        deployment.sandbox.degraded(delay_s=8.0),
        _traffic(conditions.captures(simulator, "paypal"), interval_s=0.5, in_flight=24) as slow,
    ):
        _stays_quiet(monitoring, rule.name, _span(rule) + 10)
    assert slow.statuses().get(200), f"deliveries 8 s slow should still succeed: {slow.statuses()}"
    since = time.time()
    with conditions.paypal_verification(deployment.sandbox, simulator, delay_s=11.0):
        _fires_and_arrives(monitoring, rule, {"gateway": "paypal"}, since, extra_s=12)


def _write_textfile(folder: Path, passed: bool, host: str = "db-1") -> None:
    """What the restore drill writes for node_exporter (`<host>.prom`), written by the
    drill's own evidence writer from a drill report."""
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report = {
        "passed": passed,
        "host": host,
        "finished_at": finished,
        "rto_seconds": 42.5,
        "rpo_seconds": 3600.0,
        "counts": {"cards": 500, "purchases": 100, "artists": 50},
        "backup": {"name": "backup_20261201_050001.pgc"},
        "failure": None if passed else {"check": "verify_backup", "reason": "sha256 mismatch"},
    }
    record_drill(folder, host, report)


def test_a_failed_drill_opens_a_ticket(monitoring: EmbeddedMonitoring, textfile_dir: Path) -> None:
    _write_textfile(textfile_dir, passed=True)
    rule = _quiet_before(monitoring, "RestoreDrillFailed")
    _stays_quiet(monitoring, rule.name, _span(rule) + 3)
    since = time.time()
    _write_textfile(textfile_dir, passed=False)
    try:
        note = _fires_and_arrives(monitoring, rule, {"host": "db-1"}, since)
    finally:
        _write_textfile(textfile_dir, passed=True)
    assert note.labels["severity"] == "ticket"


def test_unhandled_errors_open_a_ticket(
    monitoring: EmbeddedMonitoring, deployment: EmbeddedDeployment, simulator: GatewaySimulator
) -> None:
    _, text = simulator.client.get_text("/metrics")
    assert "unhandled_errors_total" in text, "the service does not count unhandled errors"
    rule = _quiet_before(monitoring, "UnhandledErrors")
    with _traffic(conditions.captures(simulator, "standard")):
        _stays_quiet(monitoring, rule.name, _span(rule) + 3)
    since = time.time()
    with conditions.unexpected_errors(deployment.database_url, simulator, "standard") as condition:
        note = _fires_and_arrives(monitoring, rule, {"route": "standard"}, since)
    assert condition.traffic is not None and 500 in condition.traffic.statuses(), condition.summary()
    assert note.labels["severity"] == "ticket"
    sink = deployment.error_sink
    assert sink is not None and any(report.get("route") == "standard" for report in sink.reports())
