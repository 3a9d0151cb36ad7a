"""Against a deployment, a new line the run was not given the means to measure is "not
measured", and says which option would measure it; nothing of the harness's own files
stands in for the deployment's."""

from __future__ import annotations

import pytest
from check_kit import CheckRun, RunCheck

NOT_GIVEN = {
    "weekly_auto_drill": "--drill-workflow",
    "automated_deployment": "--workflows or --repository",
    "automated_testing": "--workflows or --repository",
    "automated_monitoring": "--workflows or --repository",
    "automated_backup_verification": "--workflows or --repository",
    "automated_security_scanning": "--workflows or --repository",
    "branch_protection": "--repo-settings or --repository",
    "security_scan": "--security-report",
    "redis_replication": "--redis-url",
    "runbooks": "--alert-rules or --prometheus-url",
    "troubleshooting_guide": "--repository",
    "onboarding_guide": "--repository",
    "architecture_diagram": "--repository",
    "load_balancer_failover": "--outage-hooks FILE --allow-disruption",
}


NEEDED = {
    "weekly_auto_drill": "drill_workflow",
    "automated_deployment": "workflows",
    "branch_protection": "repo_settings",
    "security_scan": "security_report",
    "redis_replication": "redis_replication",
    "runbooks": "alert_rules",
    "onboarding_guide": "repository",
    "load_balancer_failover": "outages",
}
"""What some of these lines ask of the target: readiness.json records it (`needs`)."""


@pytest.fixture(scope="module")
def bare_run(module_check: RunCheck) -> CheckRun:
    """The reference service as a target, given its URL and secrets only."""
    return module_check(" or ".join([*NOT_GIVEN, "api_documentation", "load_balancer"]))


@pytest.mark.parametrize(("tag", "option"), NOT_GIVEN.items(), ids=list(NOT_GIVEN))
def test_a_line_without_its_option_is_not_measured_and_names_it(
    bare_run: CheckRun, tag: str, option: str
) -> None:
    assert bare_run.state(tag) == "not measured", f"{tag}: {bare_run.message(tag)}"
    assert f"give {option} to measure it" in bare_run.message(tag)


@pytest.mark.parametrize(("tag", "capability"), NEEDED.items(), ids=list(NEEDED))
def test_readiness_json_records_what_a_line_asked_of_the_target(
    bare_run: CheckRun, tag: str, capability: str
) -> None:
    assert capability in bare_run.line(tag)["needs"], bare_run.line(tag)


def test_the_served_api_document_is_measured_without_an_option(bare_run: CheckRun) -> None:
    assert bare_run.state("api_documentation") == "verified", bare_run.message("api_documentation")


def test_a_single_instance_behind_the_target_url_fails_the_load_balancer_line(bare_run: CheckRun) -> None:
    assert bare_run.state("load_balancer") == "failed"
    assert "only 1 instance(s) answered 20 health checks" in bare_run.message("load_balancer")
