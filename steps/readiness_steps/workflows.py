"""Steps that read the target's CI workflows: the weekly restore drill, the automation
lines of Continuous Improvement, and branch protection's required checks.

A workflow counts only when GitHub would run it: actionlint finds nothing wrong with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from readiness_harness.evidence import automation
from readiness_harness.evidence.actionlint import ActionlintUnavailable, CheckedWorkflows, findings_by_file
from readiness_harness.evidence.repo_settings import (
    BranchProtection,
    RepoSettingsError,
    load_branch_protection,
)
from readiness_harness.evidence.workflows import Job, Workflow, WorkflowError, WorkflowSet, load_workflow
from readiness_harness.target.target import Target

# --- the weekly restore drill (one workflow file: --drill-workflow)


@when("the restore drill workflow is read", target_fixture="drill_workflow_checked")
def _(drill_workflow: Path, record_evidence: Callable[[str, Any], None]) -> CheckedWorkflows:
    try:
        workflow = load_workflow(drill_workflow)
    except WorkflowError as exc:
        raise AssertionError(f"the restore drill workflow cannot be read: {exc}") from exc
    try:
        findings = findings_by_file([drill_workflow])
    except ActionlintUnavailable as exc:
        raise AssertionError(f"the restore drill workflow cannot be checked: {exc}") from exc
    checked = CheckedWorkflows(WorkflowSet(drill_workflow, (workflow,), {}), findings)
    record_evidence(
        "drill_workflow", {"file": drill_workflow.name, "crons": workflow.crons, **checked.summary()}
    )
    return checked


def _only(checked: CheckedWorkflows) -> Workflow:
    return checked.workflows.workflows[0]


@then("actionlint finds nothing wrong with it, so GitHub will run it")
def _(drill_workflow_checked: CheckedWorkflows) -> None:
    rejected = drill_workflow_checked.invalid
    assert not rejected, "actionlint rejects the restore drill workflow: " + "; ".join(rejected.values())


@then(parsers.parse('it is scheduled with cron "{cron}"'))
def _(drill_workflow_checked: CheckedWorkflows, cron: str) -> None:
    crons = _only(drill_workflow_checked).crons
    assert cron in crons, (
        f"the restore drill workflow is scheduled {crons or 'never'}, expected cron {cron!r}"
    )


@then("it can also be started by hand")
def _(drill_workflow_checked: CheckedWorkflows) -> None:
    assert _only(drill_workflow_checked).manual, (
        "the restore drill workflow has no workflow_dispatch trigger: it cannot be started by hand"
    )


def _uploads_drill_report(job: Job, after: int) -> bool:
    for step in job.steps[after + 1 :]:
        if step.uses_action(("actions/upload-artifact",)) and "drill" in str(step.inputs.get("path", "")):
            return step.always
    return False


@then("one of its jobs runs the drill and uploads the drill report, also when the drill fails")
def _(drill_workflow_checked: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> None:
    workflow = _only(drill_workflow_checked)
    drill = automation.BACKUP_VERIFICATION
    runs_drill = []
    for job in workflow.jobs.values():
        indices = [i for i, step in enumerate(job.steps) if step.runs(drill.commands)]
        if indices:
            runs_drill.append(job.id)
            if _uploads_drill_report(job, indices[-1]):
                record_evidence("drill_job", job.check_name)
                return
    assert runs_drill, (
        f"no job of {workflow.path.name} runs the drill "
        "(readiness drill, the restore_drill playbook or script)"
    )
    raise AssertionError(
        f"job(s) {', '.join(runs_drill)} of {workflow.path.name} run the drill, but none uploads the "
        "drill report (actions/upload-artifact with a path under the drill reports) in a step that "
        "runs also when the drill failed (if: always())"
    )


# --- automation (Continuous Improvement): the target's workflows (--workflows)


@given("the target's CI workflows, checked with actionlint", target_fixture="checked_workflows")
def _(ci_workflows: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> CheckedWorkflows:
    record_evidence("workflows", ci_workflows.summary())
    return ci_workflows


def _found(
    checked: CheckedWorkflows,
    kind: automation.Automation,
    record_evidence: Callable[[str, Any], None],
    keep: Callable[[automation.Found], bool] = lambda found: True,
    also: str = "",
) -> None:
    search = automation.find(kind, checked.workflows, checked.invalid)
    found = [entry for entry in search.found if keep(entry)]
    record_evidence(f"automated_{kind.key}", [entry.to_dict() for entry in found])
    if not found and search.found:
        names = ", ".join(entry.job.label for entry in search.found)
        raise AssertionError(f"{names} {kind.what} {kind.when_text}, but {also}")
    assert found, search.explain(str(checked.workflows.source))


@then("a job deploys the service on a push to the default branch, after a job that runs the tests")
def _(checked_workflows: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> None:
    _found(checked_workflows, automation.DEPLOYMENT, record_evidence)


@then("a job runs the tests on every change, pull requests included")
def _(checked_workflows: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> None:
    _found(
        checked_workflows,
        automation.TESTING,
        record_evidence,
        keep=lambda found: found.workflow.on_pull_request,
        also="not on pull requests",
    )


@then("a scheduled job checks the running deployment")
def _(checked_workflows: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> None:
    _found(checked_workflows, automation.MONITORING, record_evidence)


@then("a scheduled job runs the restore drill")
def _(checked_workflows: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> None:
    _found(checked_workflows, automation.BACKUP_VERIFICATION, record_evidence)


@then("a job runs a security scanner on every change or on a schedule")
def _(checked_workflows: CheckedWorkflows, record_evidence: Callable[[str, Any], None]) -> None:
    _found(checked_workflows, automation.SECURITY_SCANNING, record_evidence)


# --- branch protection (--repo-settings) against the jobs of the workflows


@given(
    "the target's branch protection and its CI workflows, checked with actionlint",
    target_fixture="protection",
)
def _(
    readiness_target: Target,
    request: pytest.FixtureRequest,
    record_evidence: Callable[[str, Any], None],
) -> tuple[BranchProtection, CheckedWorkflows]:
    source: Path = readiness_target.require("repo_settings")
    ci_workflows: CheckedWorkflows = request.getfixturevalue("ci_workflows")
    try:
        protection = load_branch_protection(source)
    except RepoSettingsError as exc:
        raise AssertionError(str(exc)) from exc
    record_evidence("branch_protection", protection.to_dict())
    return protection, ci_workflows


@then(parsers.parse("at least {count:d} approving review is required"))
def _(protection: tuple[BranchProtection, CheckedWorkflows], count: int) -> None:
    rules = protection[0]
    assert rules.required_reviews >= count, (
        f"{rules.source.name}: the branch {rules.branch!r} requires {rules.required_reviews} approving "
        f"review(s), at least {count} required (required_pull_request_reviews)"
    )


def _pull_request_jobs(checked: CheckedWorkflows, commands: Any) -> list[Job]:
    invalid = checked.invalid
    return [
        job
        for workflow, job in checked.workflows.jobs()
        if workflow.on_pull_request and workflow.path.name not in invalid and job.step_running(commands)
    ]


def _required_job(protection: tuple[BranchProtection, CheckedWorkflows], what: str, commands: Any) -> None:
    rules, checked = protection
    jobs = _pull_request_jobs(checked, commands)
    assert jobs, f"no job of a valid workflow {what} on pull requests, so no required check can be that job"
    required = set(rules.required_checks)
    assert any(job.check_name in required for job in jobs), (
        f"the branch {rules.branch!r} does not require the check of a job that {what}: jobs "
        f"{', '.join(repr(job.check_name) for job in jobs)}, required {sorted(required) or 'none'}"
    )


@then("the required status checks include a job that runs the tests on pull requests")
def _(protection: tuple[BranchProtection, CheckedWorkflows]) -> None:
    _required_job(protection, "runs the tests", automation.TEST_COMMANDS)


@then("the required status checks include a job that runs the readiness check on pull requests")
def _(protection: tuple[BranchProtection, CheckedWorkflows]) -> None:
    _required_job(protection, "runs the readiness check", automation.READINESS_COMMANDS)


@then("every required status check is a job of the workflows")
def _(protection: tuple[BranchProtection, CheckedWorkflows]) -> None:
    rules, checked = protection
    names = {
        job.check_name
        for workflow, job in checked.workflows.jobs()
        if workflow.path.name not in checked.invalid
    }
    unknown = [name for name in rules.required_checks if name not in names]
    assert not unknown, (
        f"required status check(s) {unknown} are no job of the valid workflows ({sorted(names)}): a pull "
        "request would wait for them forever"
    )
