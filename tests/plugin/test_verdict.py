"""The verdict through `readiness check`: sign-offs and waivers decide the exit code.

A small checklist in tmp_path uses the real sign-off steps; each test changes only the
attestations or waivers file and reads the verdict and readiness.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

READINESS = str(Path(sys.executable).with_name("readiness"))
TODAY = date.today()

CHECKLIST = """\
@toy_release
Feature: Toy release checklist
  @attested @code_review
  Scenario: Code review of the release is completed
    Given the human item "code_review" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough

  @always_fails
  Scenario: A line that fails
    Given the human item "never_signed" is signed off in the attestations file
"""


def attestations(when: date | None) -> str:
    body = "max_age_days: 30\nattestations:\n"
    if when is not None:
        body += (
            f"  code_review:\n    who: Dana\n    when: {when.isoformat()}\n"
            "    link: https://example.test/pr/1\n"
        )
    return body


def waiver(line: str, expires: date) -> str:
    return (
        f"waivers:\n  - line: {line}\n    reason: known gap\n    owner: ops@example.test\n"
        f"    expires: {expires.isoformat()}\n"
    )


@pytest.fixture
def checklist(tmp_path: Path) -> Path:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "release.feature").write_text(CHECKLIST)
    return tmp_path


def run_check(
    checklist: Path, attestations_text: str, waivers_text: str = "waivers: []\n"
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    (checklist / "attestations.yml").write_text(attestations_text)
    (checklist / "waivers.yml").write_text(waivers_text)
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "READINESS_ATTESTATIONS": str(checklist / "attestations.yml"),
        "READINESS_WAIVERS": str(checklist / "waivers.yml"),
    }
    result = subprocess.run(
        [READINESS, "check", "--features", str(checklist / "features"), "--output", str(checklist / "out")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    path = checklist / "out" / "readiness.json"
    document = json.loads(path.read_text()) if path.exists() else {}
    return result, document


def states(document: dict[str, object]) -> dict[str, str]:
    lines = document["lines"]
    assert isinstance(lines, list)
    return {line["scenario"]: line["state"] for line in lines}


def test_attested_and_validly_waived_lines_make_the_release_ready(checklist: Path) -> None:
    result, document = run_check(
        checklist, attestations(TODAY), waiver("always_fails", TODAY + timedelta(days=7))
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert "PRODUCTION READY!" in result.stdout
    assert states(document) == {
        "Code review of the release is completed": "attested",
        "A line that fails": "waived",
    }
    review = next(line for line in document["lines"] if line["state"] == "attested")  # type: ignore[union-attr]
    assert review["evidence"]["attestation"]["who"] == "Dana"


def test_an_expired_waiver_fails_the_line_and_the_exit_code(checklist: Path) -> None:
    result, document = run_check(
        checklist, attestations(TODAY), waiver("always_fails", TODAY - timedelta(days=1))
    )
    assert result.returncode == 1
    assert "NOT READY" in result.stdout and "PRODUCTION READY" not in result.stdout
    assert "expired on" in result.stdout
    assert states(document)["A line that fails"] == "failed"


def test_a_removed_attestation_fails_the_line_and_the_exit_code(checklist: Path) -> None:
    result, document = run_check(
        checklist, attestations(None), waiver("always_fails", TODAY + timedelta(days=7))
    )
    assert result.returncode == 1
    assert "no sign-off for 'code_review'" in result.stdout
    assert states(document)["Code review of the release is completed"] == "failed"


def test_a_stale_attestation_fails_the_line(checklist: Path) -> None:
    result, document = run_check(
        checklist, attestations(TODAY - timedelta(days=31)), waiver("always_fails", TODAY + timedelta(days=7))
    )
    assert result.returncode == 1
    assert "31 days ago" in result.stdout
    assert states(document)["Code review of the release is completed"] == "failed"


def test_a_waiver_that_names_no_line_is_a_usage_error(checklist: Path) -> None:
    result, document = run_check(
        checklist, attestations(TODAY), waiver("no_such_line", TODAY + timedelta(days=7))
    )
    assert result.returncode != 0
    assert "matches 0 checklist lines" in result.stdout + result.stderr
    assert "passed" not in result.stdout, "a bad waivers file stops the run before any line"
    assert document == {}


def test_readiness_json_and_the_markdown_summary_list_every_line(checklist: Path) -> None:
    run_check(checklist, attestations(TODAY), waiver("always_fails", TODAY + timedelta(days=7)))
    summary = (checklist / "out" / "readiness-summary.md").read_text()
    assert "# Readiness: PRODUCTION READY!" in summary
    assert "| Code review of the release is completed | attested |" in summary
    assert "waived by ops@example.test" in summary
