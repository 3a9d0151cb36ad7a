"""The workflow lines read the deployment's workflow files, and count only what GitHub runs.

The weekly-drill line, the five automation lines and the branch-protection line run
through `readiness check` against the reference service as a target, given the files a
deployment would give: the repository's own (they pass), and copies broken one way per
run (each fails, saying why). One run judges the three kinds of line at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from check_kit import CheckRun, RunCheck

from readiness_harness.paths import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
RESTORE = WORKFLOWS / "restore.yml"
SETTINGS = PROJECT_ROOT / ".github" / "settings.yml"
AUTOMATION = (
    "automated_deployment",
    "automated_testing",
    "automated_backup_verification",
    "automated_security_scanning",
)
LINES = " or ".join(("weekly_auto_drill", "branch_protection", *AUTOMATION))


def _edited(folder: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{source.name} no longer holds {old!r}: update the test"
    path = folder / source.name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _workflows(folder: Path, change: str | None = None) -> Path:
    """A copy of the repository's workflows, ci.yml changed one way (and weekly.yml, whose
    scheduled review runs pip-audit, the same way for the security-scanning cases)."""
    target = folder / "workflows"
    target.mkdir()
    for path in WORKFLOWS.glob("*.yml"):
        (target / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    ci_path = target / "ci.yml"
    if change == "actionlint":
        _edited(target, ci_path, "    needs: security\n", "    needs: scan\n")
        runs_on = "    runs-on: ubuntu-latest\n"
        _edited(target, target / "weekly.yml", runs_on, "    needs: scan\n" + runs_on)
    elif change is not None:
        ci = yaml.safe_load(ci_path.read_text())
        if change == "no security job":
            (target / "weekly.yml").unlink()  # its scheduled review runs pip-audit too
            del ci["jobs"]["security"]
            del ci["jobs"]["readiness"]["needs"]
            ci["jobs"]["readiness"]["steps"] = [
                step
                for step in ci["jobs"]["readiness"]["steps"]
                if "download-artifact" not in str(step.get("uses"))
            ]
        elif change == "deploy untested":
            del ci["jobs"]["staging"]["needs"]
            ci["jobs"]["publish"]["needs"] = "security"
            ci["jobs"]["publish"]["if"] = "github.ref == 'refs/heads/main'"
        ci_path.write_text(yaml.safe_dump(ci, sort_keys=False))
    return target


@dataclass(frozen=True)
class Case:
    drill: tuple[str, str] | None
    workflows: str | None
    settings: tuple[str, str] | None


CASES = {
    "own": Case(None, None, None),
    "first": Case(
        ("    services:\n", "    env:\n      BACKUP_PATH: ${{ runner.temp }}/backups\n    services:\n"),
        "no security job",
        ("required_approving_review_count: 1", "required_approving_review_count: 0"),
    ),
    "second": Case(
        (
            "      - name: Upload the drill report\n        if: always()\n",
            "      - name: Upload the drill report\n",
        ),
        "actionlint",
        None,
    ),
    "third": Case(
        ('    - cron: "0 5 * * 1"', '    - cron: "0 6 * * 1"'),
        "deploy untested",
        ("          - Readiness check\n", ""),
    ),
    "fourth": Case(("  workflow_dispatch:\n", ""), None, ("  - name: main\n", "  - name: develop\n")),
    "fifth": Case(
        (".venv/bin/readiness drill", "echo 'no drill'"),
        None,
        ("          - Tests\n", "          - Test suite\n"),
    ),
}


@pytest.fixture(scope="module")
def runs(module_check: RunCheck, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckRun]:
    out = {}
    for name, case in CASES.items():
        folder = tmp_path_factory.mktemp(name)
        drill = _edited(folder, RESTORE, *case.drill) if case.drill else RESTORE
        settings = _edited(folder, SETTINGS, *case.settings) if case.settings else SETTINGS
        workflows = _workflows(folder, case.workflows)
        out[name] = module_check(
            LINES,
            "--drill-workflow",
            str(drill),
            "--workflows",
            str(workflows),
            "--repo-settings",
            str(settings),
        )
    return out


def test_the_repositorys_own_workflows_and_settings_pass_every_line(runs: dict[str, CheckRun]) -> None:
    run = runs["own"]
    for tag in ("weekly_auto_drill", "branch_protection", *AUTOMATION):
        assert run.state(tag) == "verified", f"{tag}: {run.message(tag)}\n{run.output}"
    assert run.evidence("weekly_auto_drill")["drill_workflow"]["crons"] == ["0 5 * * 1"]
    found = run.evidence("automated_security_scanning")["automated_security_scanning"]
    assert any(entry["workflow"] == "ci.yml" and entry["job"] == "Security scan" for entry in found), found
    rules = run.evidence("branch_protection")["branch_protection"]
    assert rules["required_reviews"] == 1 and "Readiness check" in rules["required_checks"]


def _fails(run: CheckRun, tag: str, says: str) -> None:
    assert run.state(tag) == "failed", f"{tag} is {run.state(tag)}: {run.message(tag)}\n{run.output}"
    assert says in run.message(tag), run.message(tag)


def test_a_drill_workflow_github_would_reject_fails_the_weekly_drill_line(runs: dict[str, CheckRun]) -> None:
    """The mistake this repository once shipped: `runner.temp` in a job-level env."""
    _fails(runs["first"], "weekly_auto_drill", "actionlint rejects the restore drill workflow")
    assert 'context "runner" is not allowed here' in runs["first"].message("weekly_auto_drill")


def test_a_drill_report_not_uploaded_after_a_failed_drill_fails_the_weekly_drill_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(runs["second"], "weekly_auto_drill", "none uploads the drill report")


def test_a_drill_at_another_time_fails_the_weekly_drill_line(runs: dict[str, CheckRun]) -> None:
    _fails(runs["third"], "weekly_auto_drill", "expected cron '0 5 * * 1'")


def test_a_drill_that_cannot_be_started_by_hand_fails_the_weekly_drill_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(runs["fourth"], "weekly_auto_drill", "cannot be started by hand")


def test_a_workflow_that_never_runs_the_drill_fails_the_weekly_drill_line(runs: dict[str, CheckRun]) -> None:
    _fails(runs["fifth"], "weekly_auto_drill", "runs the drill")


def test_workflows_without_the_security_job_fail_the_security_scanning_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(
        runs["first"],
        "automated_security_scanning",
        "runs a security scanner on every change or on a schedule",
    )
    assert runs["first"].state("automated_testing") == "verified"


def test_a_workflow_github_rejects_counts_for_nothing(runs: dict[str, CheckRun]) -> None:
    for tag in ("automated_testing", "automated_security_scanning", "automated_deployment"):
        _fails(runs["second"], tag, "actionlint rejects the file")


def test_a_deployment_that_does_not_wait_for_the_tests_fails_the_deployment_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(runs["third"], "automated_deployment", "deploys without waiting for a job that runs the tests")


def test_branch_protection_without_a_required_review_fails(runs: dict[str, CheckRun]) -> None:
    _fails(runs["first"], "branch_protection", "requires 0 approving review(s)")


def test_a_required_check_that_no_job_produces_fails_branch_protection(runs: dict[str, CheckRun]) -> None:
    _fails(runs["fifth"], "branch_protection", "'Test suite'")


def test_branch_protection_that_does_not_require_the_readiness_check_fails(runs: dict[str, CheckRun]) -> None:
    _fails(
        runs["third"],
        "branch_protection",
        "does not require the check of a job that runs the readiness check",
    )


def test_an_unprotected_default_branch_fails_branch_protection(runs: dict[str, CheckRun]) -> None:
    _fails(runs["fourth"], "branch_protection", "no protection for the branch 'main'")


def test_branch_protection_reads_the_json_githubs_api_exports(run_check: RunCheck, tmp_path: Path) -> None:
    export = {
        "url": "https://api.github.com/repos/acme/cardpack/branches/main/protection",
        "required_status_checks": {
            "strict": True,
            "contexts": ["Tests", "Readiness check"],
            "checks": [
                {"context": "Tests", "app_id": 15368},
                {"context": "Readiness check", "app_id": 15368},
            ],
        },
        "required_pull_request_reviews": {
            "required_approving_review_count": 2,
            "dismiss_stale_reviews": True,
        },
        "enforce_admins": {"enabled": True},
    }
    path = tmp_path / "protection.json"
    path.write_text(json.dumps(export))
    run = run_check("branch_protection", "--repo-settings", str(path), "--workflows", str(WORKFLOWS))
    assert run.state("branch_protection") == "verified", run.output
    assert (
        run.evidence("branch_protection")["branch_protection"]["form"] == "branch protection (REST API JSON)"
    )
