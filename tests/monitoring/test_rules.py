"""Rules read from files or from Prometheus's API; the embedded clock's rewrite; runbook links."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from readiness_harness.monitoring.rules import (
    AlertRule,
    RulesError,
    compress,
    compress_expr,
    format_duration,
    load_rule_files,
    parse_duration,
    rules_from_api,
    runbook_problems,
)

REFERENCE = Path(__file__).resolve().parents[2] / "reference_service" / "monitoring"


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("90s", 90), ("250ms", 0.25), ("8d", 691200)]
)
def test_durations_read_as_prometheus_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_durations_written_back_in_their_largest_whole_unit() -> None:
    assert [format_duration(s) for s in (300, 5, 0.5, 90)] == ["5m", "5s", "500ms", "90s"]


def test_the_faster_clock_divides_every_window_offset_and_hold() -> None:
    assert (
        compress_expr("increase(x[5m]) > 0 unless x offset 5m", 60)
        == "increase(x[5s]) > 0 unless x offset 5s"
    )
    assert compress_expr("max_over_time(rate(x[5m])[1h:1m])", 60) == "max_over_time(rate(x[5s])[1m:1s])"
    document = yaml.safe_load((REFERENCE / "alerts.yml").read_text())
    fast = compress(document, 60)
    rules = {rule["alert"]: rule for group in fast["groups"] for rule in group["rules"]}
    assert rules["WebhookFailureRateHigh"]["for"] == "5s"
    assert (
        "[5s]" in rules["WebhookFailureRateHigh"]["expr"]
        and "[5m]" not in rules["WebhookFailureRateHigh"]["expr"]
    )
    assert rules["RestoreDrillMetricsMissing"]["for"] == "1m"
    assert "> 0.01" in rules["WebhookFailureRateHigh"]["expr"], "thresholds are not touched"
    original = {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}
    assert original["WebhookFailureRateHigh"]["for"] == "5m", "the document itself is not changed"


def test_a_folder_is_told_apart_into_rule_files_and_test_files(tmp_path: Path) -> None:
    for name in ("alerts.yml", "alerts_test.yml"):
        (tmp_path / name).write_text((REFERENCE / name).read_text())
    (tmp_path / "notes.yml").write_text("just: text\n")
    rules = load_rule_files(tmp_path)
    assert [p.name for p in rules.rule_files] == ["alerts.yml"]
    assert [p.name for p in rules.test_files] == ["alerts_test.yml"]
    assert "UnhandledErrors" in rules.names and rules.get("WebhookFailureRateHigh").hold_s == 300  # type: ignore[union-attr]


def test_a_folder_without_rules_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "x.yml").write_text("tests: []\n")
    with pytest.raises(RulesError, match="no Prometheus rule file"):
        load_rule_files(tmp_path)


def test_rules_from_prometheus_api_keep_alerts_only() -> None:
    payload = {
        "groups": [
            {
                "name": "g",
                "rules": [
                    {"type": "recording", "name": "r", "query": "sum(x)"},
                    {
                        "type": "alerting",
                        "name": "A",
                        "query": "x > 1",
                        "duration": 60,
                        "labels": {"severity": "page"},
                        "annotations": {"summary": "s", "runbook_url": "https://runbooks.example/a"},
                    },
                ],
            }
        ]
    }
    rules = rules_from_api(payload, "http://prometheus")
    assert rules.names == ["A"] and rules.rules[0].hold_s == 60 and rules.rules[0].severity == "page"
    assert runbook_problems(rules.rules[0]) == []


def test_a_runbook_link_must_lead_somewhere() -> None:
    def rule(link: str) -> AlertRule:
        return AlertRule("A", "x", 0, {}, {"runbook_url": link} if link else {})

    assert runbook_problems(rule("README.md#webhookfailureratehigh"), REFERENCE) == []
    assert "no heading" in runbook_problems(rule("README.md#nosuchalert"), REFERENCE)[0]
    assert "does not exist" in runbook_problems(rule("MISSING.md#a"), REFERENCE)[0]
    assert "not an http(s) URL" in runbook_problems(rule("README.md#a"))[0]
    assert runbook_problems(rule("")) == ["no runbook_url annotation"]
