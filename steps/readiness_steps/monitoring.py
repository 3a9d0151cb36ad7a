"""Steps for the Monitoring area: alerting rules under promtool, backups in operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pytest_bdd import given, parsers, then, when

from readiness_harness.drill.harness import DrillHarness, DrillRun
from readiness_harness.drill.playbooks import PlaybookRun, run_playbook
from readiness_harness.monitoring.promtool import check_rules, test_rules
from readiness_harness.target.target import Target

RULES = Path("alerts.yml")
RULE_TESTS = Path("alerts_test.yml")


@given("the service's Prometheus alerting rules", target_fixture="alert_rules")
def _(readiness_target: Target) -> dict[str, Any]:
    folder: Path = readiness_target.require("rule_files")
    root = folder if folder.is_dir() else folder.parent
    document = yaml.safe_load((root / RULES).read_text(encoding="utf-8"))
    rules = {
        rule["alert"]: rule for group in document["groups"] for rule in group["rules"] if "alert" in rule
    }
    return {"rules": rules, "root": root}


@then(parsers.parse('the rule "{alert}" exists with a severity and a summary'))
def _(alert_rules: dict[str, Any], alert: str) -> None:
    rule = alert_rules["rules"].get(alert)
    assert rule is not None, f"no alerting rule {alert!r} in {RULES}"
    assert rule.get("labels", {}).get("severity") in ("page", "ticket"), rule
    assert rule.get("annotations", {}).get("summary"), rule


@then(parsers.parse('the unit tests of "{alert}" show it firing above the threshold and quiet below it'))
def _(alert_rules: dict[str, Any], alert: str) -> None:
    tests = yaml.safe_load((alert_rules["root"] / RULE_TESTS).read_text(encoding="utf-8"))
    cases = [
        case
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("alertname") == alert
    ]
    assert any(case.get("exp_alerts") for case in cases), f"no test where {alert} fires"
    assert any(not case.get("exp_alerts") for case in cases), f"no test where {alert} stays quiet"
    result = test_rules(alert_rules["root"] / RULE_TESTS)
    assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}{result.stderr}"


@then("promtool accepts the rules")
def _(alert_rules: dict[str, Any]) -> None:
    result = check_rules(alert_rules["root"] / RULES)
    assert result.returncode == 0, f"promtool check rules:\n{result.stdout}{result.stderr}"


@then("promtool's unit tests of the rules pass")
def _(alert_rules: dict[str, Any]) -> None:
    result = test_rules(alert_rules["root"] / RULE_TESTS)
    assert result.returncode == 0, f"promtool test rules:\n{result.stdout}{result.stderr}"


@when("the infrastructure verification playbook runs", target_fixture="verify_run")
def _(restore_drill: DrillHarness, drill_run: DrillRun) -> PlaybookRun:
    return run_playbook("verify_infra", restore_drill.env(drill_run.backup_dir))


@then("it finds PostgreSQL and Redis answering and the backup folder private")
def _(verify_run: PlaybookRun, infra_host: Any, drill_run: DrillRun) -> None:
    assert verify_run.ok, f"verify_infra failed:\n{verify_run.stdout[-3000:]}"
    assert infra_host.file(str(drill_run.backup_dir)).mode == 0o700


@then("no more backups are kept than the inventory's retention allows")
def _(drill_run: DrillRun, verify_run: PlaybookRun, pytestconfig: Any) -> None:
    inventory = yaml.safe_load((pytestconfig.rootpath / "inventory" / "local.yml").read_text())
    retention = int(inventory["all"]["vars"]["readiness_backup_retention"])
    backups = sorted(drill_run.backup_dir.glob("backup_*.pgc"))
    assert 1 <= len(backups) <= retention, [path.name for path in backups]
    assert verify_run.ok
