"""The Prometheus alerting rules are valid, their promtool unit tests pass, and those
tests can fail: a copy with an expectation flipped makes promtool report a failure.

promtool comes from Debian's `prometheus` package; without it these tests fail (never
skip) with the install command, since CI installs it."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from readiness_harness.monitoring import promtool

MONITORING = Path(__file__).resolve().parents[2] / "reference_service" / "monitoring"
RULES = MONITORING / "alerts.yml"
RULE_TESTS = MONITORING / "alerts_test.yml"


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def _alert_rules() -> list[dict[str, Any]]:
    return [rule for group in _load(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def _alert_checks(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [check for case in document["tests"] for check in case.get("alert_rule_test", [])]


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.stdout}\n{result.stderr}"


def _write_mutant(tmp_path: Path, document: dict[str, Any]) -> Path:
    """Write a copy of the rule tests into tmp_path, pointing at the real rule file."""
    document["rule_files"] = [str(RULES)]
    mutant = tmp_path / "alerts_test_mutant.yml"
    mutant.write_text(yaml.safe_dump(document, sort_keys=False))
    return mutant


def test_the_rule_file_is_valid() -> None:
    result = promtool.check_rules(RULES)
    assert result.returncode == 0, _output(result)
    assert f"SUCCESS: {len(_alert_rules())} rules found" in _output(result)


def test_the_rule_unit_tests_pass() -> None:
    result = promtool.test_rules(RULE_TESTS)
    assert result.returncode == 0, _output(result)
    assert "SUCCESS" in _output(result)


def test_every_alert_is_tested_both_firing_and_quiet() -> None:
    checks = _alert_checks(_load(RULE_TESTS))
    fires = {check["alertname"] for check in checks if check.get("exp_alerts")}
    quiet = {check["alertname"] for check in checks if not check.get("exp_alerts")}
    names = {rule["alert"] for rule in _alert_rules()}
    assert names - fires == set(), "alerts without a test in which they fire"
    assert names - quiet == set(), "alerts without a test in which they stay quiet"


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_has_a_hold_time_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert rule.get("for"), "every alert waits a `for:` period before firing"
    assert rule["labels"]["severity"] in {"page", "ticket"}
    assert {"summary", "description", "runbook", "runbook_url"} <= set(rule["annotations"])


def test_a_flipped_expectation_makes_promtool_fail(tmp_path: Path) -> None:
    document = _load(RULE_TESTS)
    flipped = next(check for check in _alert_checks(document) if check.get("exp_alerts"))
    flipped["exp_alerts"] = []
    result = promtool.test_rules(_write_mutant(tmp_path, document))
    assert result.returncode != 0, _output(result)
    assert "FAILED" in _output(result)
    assert f"alertname: {flipped['alertname']}" in _output(result)


def test_every_expectation_can_fail(tmp_path: Path) -> None:
    """Flip every expectation at once (firing <-> quiet): promtool reports each one."""
    original = _load(RULE_TESTS)
    document = copy.deepcopy(original)
    checks = _alert_checks(document)
    for check in checks:
        if check.get("exp_alerts"):
            check["exp_alerts"] = []
        else:
            check["exp_alerts"] = [{"exp_labels": {"severity": "page"}}]
    result = promtool.test_rules(_write_mutant(tmp_path, document))
    assert result.returncode != 0, _output(result)
    reported = _output(result).count("alertname: ")
    assert reported == len(checks), f"promtool reported {reported} of {len(checks)} flipped checks"


def test_a_missing_promtool_fails_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(promtool, "FALLBACK_PATH", tmp_path / "promtool")
    monkeypatch.setattr(promtool, "VENV_PATH", tmp_path / "venv-promtool")
    assert promtool.find_promtool() is None
    with pytest.raises(promtool.PromtoolNotFound, match="apt-get install prometheus"):
        promtool.test_rules(RULE_TESTS)
