"""The alert-rule lines judge rules by behaviour under promtool: a rule whose threshold
differs from the checklist's fails its probe, and a unit test that expects no alert
while the condition holds (the alert merely pending) does not count as a quiet case.

The thresholds come from the feature's own table, as the checklist line reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_bdd.feature import get_feature

from readiness_harness.monitoring.rule_checks import parse_threshold, probe_threshold, unit_test_cases
from readiness_harness.monitoring.rules import RuleSet, load_rule_files

REPOSITORY = Path(__file__).resolve().parents[2]
REFERENCE = REPOSITORY / "reference_service" / "monitoring"


def _threshold_rows() -> list[dict[str, str]]:
    feature = get_feature(str(REPOSITORY / "features"), "monitoring.feature")
    outline = next(s for s in feature.scenarios.values() if "alert_thresholds" in s.tags)
    return [dict(row) for examples in outline.examples for row in examples.as_contexts()]


ROWS = _threshold_rows()


def _mutant(tmp_path: Path, alert: str, old: str, new: str) -> RuleSet:
    """A copy of the reference rules with one alert's expression edited."""
    document = yaml.safe_load((REFERENCE / "alerts.yml").read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                assert old in rule["expr"], rule["expr"]
                rule["expr"] = rule["expr"].replace(old, new)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    return load_rule_files(tmp_path / "alerts.yml")


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["alert"])
def test_the_reference_rules_hold_the_checklists_thresholds(row: dict[str, str]) -> None:
    probe = probe_threshold(load_rule_files(REFERENCE), row["alert"], row["measure"], row["threshold"])
    assert probe.fires_above and probe.quiet_below, probe.output


@pytest.mark.parametrize(
    ("alert", "old", "new", "fires", "quiet"),
    [
        ("WebhookFailureRateHigh", "> 0.01", "> 0.02", False, True),
        ("WebhookFailureRateHigh", "> 0.01", "> 0.005", True, False),
        ("WebhookLatencyP99Above10s", 'le=~"10|10\\\\.0"', 'le=~"5|5\\\\.0"', True, False),
        ("DatabaseConnectionErrors", 'dependency="database"', 'dependency="db"', False, True),
        ("RestoreDrillFailed", "== 0", "== 2", False, True),
    ],
    ids=["threshold-raised", "threshold-lowered", "latency-at-5s", "wrong-metric", "never-fires"],
)
def test_a_rule_off_the_checklists_threshold_fails_its_probe(
    tmp_path: Path, alert: str, old: str, new: str, fires: bool, quiet: bool
) -> None:
    row = next(row for row in ROWS if row["alert"] == alert)
    probe = probe_threshold(_mutant(tmp_path, alert, old, new), alert, row["measure"], row["threshold"])
    assert (probe.fires_above, probe.quiet_below) == (fires, quiet), probe.output


def test_a_long_hold_time_is_waited_out_not_mistaken_for_quiet(tmp_path: Path) -> None:
    document = yaml.safe_load((REFERENCE / "alerts.yml").read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "WebhookFailureRateHigh":
                rule["for"] = "2h"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    probe = probe_threshold(
        load_rule_files(tmp_path / "alerts.yml"), "WebhookFailureRateHigh", "failure share", "1%"
    )
    assert probe.fires_above and probe.quiet_below
    assert probe.eval_time_s >= 2 * 3600


@pytest.mark.parametrize(
    ("text", "value"),
    [("1%", 0.01), ("0.1%", 0.001), ("10 s", 10.0), ("1 error", 1.0), ("1 failed drill", 1.0)],
)
def test_thresholds_are_read_as_written_in_the_feature(text: str, value: float) -> None:
    assert parse_threshold(text) == pytest.approx(value)


def _copy_with_tests(tmp_path: Path, tests: list[dict[str, Any]]) -> RuleSet:
    (tmp_path / "alerts.yml").write_text((REFERENCE / "alerts.yml").read_text())
    (tmp_path / "alerts_test.yml").write_text(
        yaml.safe_dump(
            {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False
        )
    )
    return load_rule_files(tmp_path)


FAILING = {
    "series": 'webhook_deliveries_total{gateway="stripe",type="payment.captured",outcome="error"}',
    "values": "0+5x30",
}
ACCEPTED = {
    "series": 'webhook_deliveries_total{gateway="stripe",type="payment.captured",outcome="accepted"}',
    "values": "0+100x30",
}


def test_a_quiet_case_that_is_only_pending_does_not_count(tmp_path: Path) -> None:
    """At 3 minutes the failure rate is far above 1% and the alert pending: promtool's
    `exp_alerts: []` passes, but it proves nothing about the threshold."""
    rules = _copy_with_tests(
        tmp_path,
        [
            {
                "name": "pending only",
                "interval": "1m",
                "input_series": [FAILING, ACCEPTED],
                "alert_rule_test": [
                    {"eval_time": "3m", "alertname": "WebhookFailureRateHigh", "exp_alerts": []}
                ],
            }
        ],
    )
    [case] = unit_test_cases(rules.test_files, rules)
    assert not case.fires and case.quiet_past_hold is False
    assert "pending or firing" in case.why_not


def test_a_quiet_case_before_the_hold_time_does_not_count(tmp_path: Path) -> None:
    rules = _copy_with_tests(
        tmp_path,
        [
            {
                "name": "below the threshold but too early",
                "interval": "1m",
                "input_series": [ACCEPTED],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "WebhookFailureRateHigh", "exp_alerts": []}
                ],
            }
        ],
    )
    [case] = unit_test_cases(rules.test_files, rules)
    assert case.quiet_past_hold is False and "before the rule's for:" in case.why_not


def test_the_reference_tests_prove_every_required_alert_both_ways() -> None:
    rules = load_rule_files(REFERENCE)
    cases = unit_test_cases(rules.test_files, rules)
    for row in ROWS:
        mine = [case for case in cases if case.alert == row["alert"]]
        assert any(case.fires for case in mine), row["alert"]
        assert any(case.quiet_past_hold for case in mine), row["alert"]
