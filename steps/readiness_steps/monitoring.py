"""Steps for the Monitoring area: alerting rules under promtool, backups in operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pytest_bdd import given, parsers, then, when

from readiness_harness.drill.harness import DrillHarness, HostRun
from readiness_harness.drill.playbooks import PlaybookRun
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
