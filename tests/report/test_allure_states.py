"""The Allure report in the checklist's terms: one test per line, under its area's title,
each showing its readiness state; a partial run says so in the report's name and keeps
the lines it did not run."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from readiness_harness.report import allure_report
from readiness_harness.report.allure_report import AllureUnavailable

READINESS = str(Path(sys.executable).with_name("readiness"))
TODAY = date.today()

CHECKLIST = """\
@toy_states
Feature: Toy release checklist
  @verified_line
  Scenario: A line that passes
    Given a number 2
    Then it is even

  @failed_line
  Scenario: A line that fails
    Given a number 3
    Then it is even

  @waived_line
  Scenario: A line that is waived
    Given a number 5
    Then it is even

  @unmeasured_line
  Scenario: A line that cannot be measured
    Given a skipped precondition

  @gateway_line
  Scenario Outline: A <gateway> line that applies to one gateway only
    Given a number <n>
    Then it is even

    Examples:
      | gateway | n |
      | paypal  | 3 |

  @attested @code_review
  Scenario: Code review of the release is completed
    Given the human item "code_review" is signed off in the attestations file
    Then the sign-off names who, when, and a link to the evidence
    And the sign-off is recent enough
"""


@pytest.fixture(scope="module")
def allure_cli() -> Path:
    try:
        return allure_report.ensure_allure()
    except AllureUnavailable as exc:
        pytest.fail(f"Allure 3 is needed for the report tests: {exc}", pytrace=False)


def run(tmp_path: Path, toy_steps: str, *options: str) -> Path:
    features = tmp_path / "features"
    features.mkdir(exist_ok=True)
    (features / "toy.feature").write_text(CHECKLIST)
    (features / "conftest.py").write_text(toy_steps)
    (tmp_path / "attestations.yml").write_text(
        f"attestations:\n  code_review:\n    who: Dana\n    when: {TODAY.isoformat()}\n"
        "    link: https://example.test/pr/7\n"
    )
    (tmp_path / "waivers.yml").write_text(
        f"waivers:\n  - line: waived_line\n    reason: known gap\n    owner: ops@example.test\n"
        f"    expires: {(TODAY + timedelta(days=30)).isoformat()}\n"
    )
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "READINESS_ATTESTATIONS": str(tmp_path / "attestations.yml"),
        "READINESS_WAIVERS": str(tmp_path / "waivers.yml"),
        "READINESS_GATEWAYS": "stripe,standard",
    }
    output = tmp_path / "out"
    subprocess.run(
        [READINESS, "check", "--features", str(features), "--output", str(output), *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    built = subprocess.run(
        [
            READINESS,
            "report",
            "--results",
            str(output / "allure-results"),
            "--output",
            str(tmp_path / "report"),
            "--history",
            "",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return tmp_path / "report"


def labels(case: dict[str, object], name: str) -> list[object]:
    found = case["labels"]
    assert isinstance(found, list)
    return [label["value"] for label in found if label["name"] == name]


def test_every_line_is_one_test_under_its_area_title_in_its_readiness_state(
    tmp_path: Path, toy_steps: str, allure_cli: Path
) -> None:
    report = run(tmp_path, toy_steps)
    cases = {case["name"]: case for case in allure_report.report_data(report)}
    expected = {
        "A line that passes": ("verified", "passed"),
        "A line that fails": ("failed", "failed"),
        "A line that is waived": ("waived", "skipped"),
        "A line that cannot be measured": ("not measured", "unknown"),
        "A <gateway> line that applies to one gateway only": ("not applicable", "skipped"),
        "Code review of the release is completed": ("attested", "passed"),
    }
    assert set(cases) == set(expected), "one test per checklist line, not per example"
    for name, (state, status) in expected.items():
        case = cases[name]
        assert labels(case, "readiness state") == [state], name
        assert case["status"] == status, name
        assert labels(case, "epic") == ["Toy release checklist"], name
    details = {
        path.name: json.loads(path.read_text()) for path in (report / "data" / "test-results").glob("*.json")
    }
    messages = {doc["name"]: (doc.get("error") or {}).get("message", "") for doc in details.values()}
    assert messages["Code review of the release is completed"].startswith("attested: signed off by Dana on")
    assert "waived by ops@example.test until" in messages["A line that is waived"]
    assert messages["A line that cannot be measured"].startswith("not measured: ")


def test_a_partial_run_is_named_partial_and_keeps_the_lines_it_did_not_run(
    tmp_path: Path, toy_steps: str, allure_cli: Path
) -> None:
    report = run(tmp_path, toy_steps, "-m", "verified_line")
    cases = {case["name"]: case for case in allure_report.report_data(report)}
    assert labels(cases["A line that passes"], "readiness state") == ["verified"]
    assert labels(cases["A line that fails"], "readiness state") == ["not run"]
    assert cases["A line that fails"]["status"] == "unknown"
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "PARTIAL RUN" in index
