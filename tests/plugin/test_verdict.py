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
    assert review["attestation"]["who"] == "Dana"
    assert review["examples"][0]["evidence"]["attestation"]["when"] == TODAY.isoformat()


def test_an_expired_waiver_fails_the_line_and_the_exit_code(checklist: Path) -> None:
    result, document = run_check(
        checklist, attestations(TODAY), waiver("always_fails", TODAY - timedelta(days=1))
    )
    assert result.returncode == 1
    assert "NOT READY" in result.stdout and "PRODUCTION READY" not in result.stdout
    assert "expired on" in result.stdout
    assert states(document)["A line that fails"] == "failed"


@pytest.mark.parametrize(
    ("extra", "state"),
    [
        ("    target: embedded\n", "waived"),
        ("    target: https://payments.example.test\n", "failed"),
        ("    when: not measured\n", "failed"),
        ("    when: failed\n", "waived"),
    ],
    ids=["for-this-target", "for-another-target", "only-not-measured", "only-failed"],
)
def test_a_waiver_holds_only_for_its_target_and_the_state_it_names(
    checklist: Path, extra: str, state: str
) -> None:
    result, document = run_check(
        checklist, attestations(TODAY), waiver("always_fails", TODAY + timedelta(days=7)) + extra
    )
    assert states(document)["A line that fails"] == state, result.stdout[-2000:]
    assert result.returncode == (0 if state == "waived" else 1)


def test_a_waiver_for_an_unknown_state_is_a_usage_error(checklist: Path) -> None:
    result, _ = run_check(
        checklist,
        attestations(TODAY),
        waiver("always_fails", TODAY + timedelta(days=7)) + "    when: passed\n",
    )
    assert result.returncode != 0
    assert "'when' must be one of failed, not measured" in result.stdout + result.stderr


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
    assert "| Code review of the release is completed | 1/1 | attested | signed off by Dana on " in summary
    assert "waived by ops@example.test" in summary


GATEWAY_CHECKLIST = """\
@toy_gateways
Feature: Toy gateway checklist
  @per_gateway
  Scenario Outline: A <gateway> number is even
    Given a number <n>
    Then it is even

    Examples:
      | gateway  | n |
      | stripe   | 2 |
      | paypal   | 3 |
      | standard | 4 |

  @other_line
  Scenario: Another line that fails
    Given a number 5
    Then it is even
"""


@pytest.fixture
def gateway_checklist(tmp_path: Path, toy_steps: str) -> Path:
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "gateways.feature").write_text(GATEWAY_CHECKLIST)
    (tmp_path / "features" / "conftest.py").write_text(toy_steps)
    return tmp_path


def run_gateways(
    checklist: Path, waivers_text: str, *options: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    (checklist / "attestations.yml").write_text("attestations: {}\n")
    (checklist / "waivers.yml").write_text(waivers_text)
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "READINESS_ATTESTATIONS": str(checklist / "attestations.yml"),
        "READINESS_WAIVERS": str(checklist / "waivers.yml"),
    }
    command = [
        READINESS,
        "check",
        "--features",
        str(checklist / "features"),
        "--output",
        str(checklist / "out"),
    ]
    result = subprocess.run(
        [*command, *options], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    path = checklist / "out" / "readiness.json"
    return result, (json.loads(path.read_text()) if path.exists() else {})


def waivers(*entries: tuple[str, str | None, str, date]) -> str:
    body = "waivers:\n"
    for line, example, owner, expires in entries:
        body += f"  - line: {line}\n"
        if example is not None:
            body += f"    example: {example}\n"
        body += f"    reason: known gap in {line}\n    owner: {owner}\n    expires: {expires.isoformat()}\n"
    return body


def line_of(document: dict[str, object], tag: str) -> dict[str, object]:
    lines = document["lines"]
    assert isinstance(lines, list)
    return next(line for line in lines if tag in line["tags"])


def test_examples_of_gateways_the_target_does_not_use_are_not_applicable(gateway_checklist: Path) -> None:
    later = TODAY + timedelta(days=30)
    result, document = run_gateways(
        gateway_checklist,
        waivers(("other_line", None, "ops@example.test", later)),
        "--gateways",
        "stripe,standard",
    )
    line = line_of(document, "per_gateway")
    assert line["state"] == "verified", line
    states = {example["params"]["gateway"]: example["state"] for example in line["examples"]}  # type: ignore[union-attr]
    assert states == {"stripe": "verified", "paypal": "not applicable", "standard": "verified"}
    assert result.returncode == 0, result.stdout[-2000:]
    assert "[PASS] A <gateway> number is even (2/2, 1 not applicable)" in result.stdout


def test_a_used_gateway_failing_fails_the_line(gateway_checklist: Path) -> None:
    later = TODAY + timedelta(days=30)
    result, document = run_gateways(
        gateway_checklist, waivers(("other_line", None, "ops@example.test", later))
    )
    line = line_of(document, "per_gateway")
    assert line["state"] == "failed"
    assert result.returncode == 1
    assert "[gateway=paypal, n=3]" in result.stdout


def test_a_waiver_of_one_example_never_covers_another_example(gateway_checklist: Path) -> None:
    later = TODAY + timedelta(days=30)
    waived_paypal = waivers(
        ("other_line", None, "ops@example.test", later), ("per_gateway", "paypal", "pay@example.test", later)
    )
    _, document = run_gateways(gateway_checklist, waived_paypal)
    assert line_of(document, "per_gateway")["state"] == "waived"
    waived_stripe = waivers(
        ("other_line", None, "ops@example.test", later),
        ("per_gateway", "gateway=stripe", "pay@example.test", later),
    )
    result, document = run_gateways(gateway_checklist, waived_stripe)
    assert line_of(document, "per_gateway")["state"] == "failed", (
        "the paypal failure is not the stripe waiver's"
    )
    assert result.returncode == 1
    assert (
        "the waiver for 'per_gateway' example [gateway=stripe] is not needed: the example passes"
        in result.stdout
    )


def test_each_waived_line_credits_its_own_waiver(gateway_checklist: Path) -> None:
    later, sooner = TODAY + timedelta(days=60), TODAY + timedelta(days=20)
    _, document = run_gateways(
        gateway_checklist,
        waivers(
            ("per_gateway", "paypal", "pay@example.test", later),
            ("other_line", None, "ops@example.test", sooner),
        ),
    )
    per_gateway, other = line_of(document, "per_gateway"), line_of(document, "other_line")
    assert per_gateway["waivers"][0]["owner"] == "pay@example.test"  # type: ignore[index]
    assert per_gateway["waivers"][0]["expires"] == later.isoformat()  # type: ignore[index]
    assert other["waivers"][0]["owner"] == "ops@example.test"  # type: ignore[index]
    assert other["waivers"][0]["expires"] == sooner.isoformat()  # type: ignore[index]


def test_an_expired_or_unneeded_waiver_on_a_passing_line_is_a_warning(gateway_checklist: Path) -> None:
    later = TODAY + timedelta(days=30)
    result, document = run_gateways(
        gateway_checklist,
        waivers(
            ("other_line", None, "ops@example.test", later),
            ("per_gateway", "stripe", "old@example.test", TODAY - timedelta(days=3)),
            ("per_gateway", "paypal", "pay@example.test", TODAY + timedelta(days=5)),
        ),
    )
    warnings = document["warnings"]
    assert any("expired on" in warning and "old@example.test" in warning for warning in warnings)  # type: ignore[union-attr]
    assert any("expires on" in warning and "in 5 days" in warning for warning in warnings)  # type: ignore[union-attr]
    assert "expired on" in result.stdout


def test_the_summary_keeps_angle_brackets_and_underscores_as_written(gateway_checklist: Path) -> None:
    later = TODAY + timedelta(days=30)
    run_gateways(gateway_checklist, waivers(("other_line", None, "ops@example.test", later)))
    summary = (gateway_checklist / "out" / "readiness-summary.md").read_text()
    assert "A &lt;gateway&gt; number is even" in summary
    assert "<gateway>" not in summary
