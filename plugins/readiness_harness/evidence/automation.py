"""What each kind of automation looks like in a set of workflows, and where it is found.

An automation is found in a job of a workflow GitHub accepts (actionlint clean) when one
of the job's steps runs a command or uses an action of its kind, and the workflow runs
when the kind needs it to:

- testing: a step runs the tests (pytest, make test, tox, nox, npm test, the readiness
  check), on every change (push or pull request);
- deployment: a job with a deployment `environment:`, or a step that deploys (a deploy
  command or action), waiting for a job that runs the tests, on a push to the default
  branch (or a tag, a release, a workflow_run);
- monitoring: a step checks the running deployment (readiness daily or weekly, a
  monitoring readiness check, promtool queries, amtool, health probes), on a schedule;
- backup verification: a step runs a restore drill (readiness drill, the restore_drill
  playbook or script), on a schedule;
- security scanning: a step runs a scanner (readiness security-scan, pip-audit, bandit,
  CodeQL, Trivy, Snyk, ...), on every change or on a schedule.

The table is the harness's: a deployment whose workflows use other tools is judged by
these names, and the line's message says what was looked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from readiness_harness.evidence.workflows import Job, Workflow, WorkflowSet

When = Literal["change", "schedule", "change_or_schedule", "release"]
DEFAULT_BRANCHES = ("main", "master")


@dataclass(frozen=True)
class Automation:
    key: str
    what: str
    commands: re.Pattern[str]
    actions: tuple[str, ...]
    when: When

    @property
    def when_text(self) -> str:
        return {
            "change": "on every change (push or pull request)",
            "schedule": "on a schedule",
            "change_or_schedule": "on every change or on a schedule",
            "release": "on a push to the default branch (or a tag, release or workflow_run)",
        }[self.when]


def _commands(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.MULTILINE)


TEST_PATTERNS = (
    r"\bpytest\b",
    r"\bmake\s+(?:\S+\s+)*test\b",
    r"\b(?:tox|nox)\b",
    r"\bnpm\s+(?:run\s+)?test\b",
    r"\b(?:go|cargo)\s+test\b",
)
READINESS_PATTERNS = (r"\breadiness\s+check\b", r"\bmake\s+(?:\S+\s+)*readiness\b")
TEST_COMMANDS = _commands(*TEST_PATTERNS)
"""A step that runs the test suite."""
READINESS_COMMANDS = _commands(*READINESS_PATTERNS)
"""A step that runs the readiness check."""

TESTING = Automation(
    "testing", "runs the tests", _commands(*TEST_PATTERNS, *READINESS_PATTERNS), (), "change"
)
DEPLOYMENT = Automation(
    "deployment",
    "deploys the service",
    _commands(
        r"\bansible-playbook\b.*\bdeploy",
        r"\bkubectl\s+(?:apply|rollout|set\s+image)\b",
        r"\bhelm\s+(?:upgrade|install)\b",
        r"\b(?:flyctl|fly)\s+deploy\b",
        r"\bterraform\s+apply\b",
        r"\bgcloud\s+(?:run|app)\s+deploy\b",
        r"\baws\s+(?:ecs\s+update-service|deploy)\b",
        r"\bdocker\s+(?:push|stack\s+deploy)\b",
        r"\bdeploy(?:\.sh|\.py)?\b",
    ),
    (
        "actions/deploy-pages",
        "aws-actions/amazon-ecs-deploy-task-definition",
        "azure/webapps-deploy",
        "google-github-actions/deploy-cloudrun",
        "superfly/flyctl-actions",
        "docker/build-push-action",
    ),
    "release",
)
MONITORING = Automation(
    "monitoring",
    "checks the running deployment (metrics, alerts, health)",
    _commands(
        r"\breadiness\s+(?:daily|weekly)\b",
        r"\breadiness\s+check\b.*-m\s+['\"]?[^'\"\n]*\bmonitoring\b",
        r"\bpromtool\s+query\b",
        r"\bamtool\s+(?:alert|check-config)\b",
        r"\bcurl\b.*/(?:health|status)\b",
    ),
    (),
    "schedule",
)
BACKUP_VERIFICATION = Automation(
    "backup_verification",
    "runs a restore drill on the backups",
    _commands(
        r"\breadiness\s+drill\b",
        r"\bansible-playbook\b.*\brestore_drill\.ya?ml\b",
        r"\brestore_drill\.sh\b",
        r"\bmake\s+(?:\S+\s+)*drill\b",
    ),
    (),
    "schedule",
)
SECURITY_SCANNING = Automation(
    "security_scanning",
    "runs a security scanner",
    _commands(
        r"\breadiness\s+security-scan\b",
        r"\bpip-audit\b",
        r"\bbandit\b",
        r"\bsafety\s+(?:check|scan)\b",
        r"\b(?:trivy|grype|osv-scanner|semgrep|snyk)\b",
        r"\bnpm\s+audit\b",
        r"\bmake\s+(?:\S+\s+)*security-report\b",
    ),
    (
        "github/codeql-action/analyze",
        "aquasecurity/trivy-action",
        "pypa/gh-action-pip-audit",
        "snyk/actions",
        "returntocorp/semgrep-action",
        "google/osv-scanner-action",
    ),
    "change_or_schedule",
)

AUTOMATIONS = {
    automation.key: automation
    for automation in (TESTING, DEPLOYMENT, MONITORING, BACKUP_VERIFICATION, SECURITY_SCANNING)
}


@dataclass(frozen=True)
class Found:
    workflow: Workflow
    job: Job
    step: str
    """The step that does it (or the deployment environment)."""

    def to_dict(self) -> dict[str, str]:
        return {"workflow": self.workflow.path.name, "job": self.job.check_name, "step": self.step}


def _triggered(automation: Automation, workflow: Workflow) -> bool:
    if automation.when == "change":
        return workflow.on_every_change
    if automation.when == "schedule":
        return bool(workflow.crons)
    if automation.when == "change_or_schedule":
        return workflow.on_every_change or bool(workflow.crons)
    releases = ("release", "workflow_run")
    if any(event in workflow.triggers for event in releases):
        return True
    push = workflow.triggers.get("push")
    if isinstance(push, dict) and push.get("tags"):
        return True
    return any(workflow.on_push_to(branch) for branch in DEFAULT_BRANCHES)


def _doing(automation: Automation, job: Job) -> str | None:
    """What in `job` does `automation`, or None."""
    if automation.key == "deployment" and job.environment:
        return f"deploys to the {job.environment!r} environment"
    step = job.step_running(automation.commands, automation.actions)
    return step.label if step is not None else None


def _tested_first(workflow: Workflow, job: Job) -> bool:
    """A deployment waits for a job of the same workflow that runs the tests."""
    before = workflow.needed_by(job)
    return any(_doing(TESTING, workflow.jobs[name]) is not None for name in before) or (
        "workflow_run" in workflow.triggers
    )


@dataclass(frozen=True)
class Search:
    """Where an automation was found, and the near misses that explain a failure."""

    automation: Automation
    found: list[Found]
    near_misses: list[str]

    def explain(self, source: str) -> str:
        looked = (
            f"no job in {source} {self.automation.what} {self.automation.when_text} "
            f"in a workflow actionlint accepts"
        )
        if self.near_misses:
            return looked + "; close: " + "; ".join(self.near_misses[:5])
        return looked


def find(automation: Automation, workflows: WorkflowSet, invalid: dict[str, str]) -> Search:
    """Jobs of `workflows` that do `automation`; `invalid` maps a workflow file name to
    why GitHub would not run it (actionlint), and such workflows never count."""
    found: list[Found] = []
    near: list[str] = []
    for workflow, job in workflows.jobs():
        doing = _doing(automation, job)
        if doing is None:
            continue
        if workflow.path.name in invalid:
            near.append(
                f"{job.label} {automation.what}, but actionlint rejects the file: "
                f"{invalid[workflow.path.name]}"
            )
        elif not _triggered(automation, workflow):
            near.append(
                f"{job.label} {automation.what}, but the workflow does not run {automation.when_text}"
            )
        elif automation.key == "deployment" and not _tested_first(workflow, job):
            near.append(f"{job.label} deploys without waiting for a job that runs the tests (needs:)")
        else:
            found.append(Found(workflow, job, doing))
    return Search(automation, found, near)
