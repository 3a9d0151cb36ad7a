"""The plugin collects .feature files, registers their tags, and selects by tag."""

from __future__ import annotations

import pytest

FEATURE = """\
@toy_area
Feature: Toy checklist
  @first_line
  Scenario: A line that passes
    Given a number 2
    Then it is even

  @second_line @severity_minor
  Scenario: A line that fails
    Given a number 3
    Then it is even

  @third_line
  Scenario: A line that is skipped
    Given a skipped precondition
"""


@pytest.fixture
def toy_project(pytester: pytest.Pytester, toy_steps: str) -> pytest.Pytester:
    pytester.makefile(".feature", **{"features/toy": FEATURE})
    pytester.makeconftest(toy_steps)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    return pytester


def test_feature_files_are_collected_without_a_test_module(toy_project: pytest.Pytester) -> None:
    result = toy_project.runpytest_subprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*toy.feature::test_a_line_that_passes*", "*3 tests collected*"])


def test_tags_are_registered_markers_that_say_which_lines_they_select(toy_project: pytest.Pytester) -> None:
    result = toy_project.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.second_line: checklist line: A line that fails*",
            "@pytest.mark.severity_minor: checklist line: A line that fails*",
            "@pytest.mark.toy_area: checklist area: Toy checklist (toy.feature, 3 lines)*",
        ],
        consecutive=False,
    )
    assert result.ret == 0


def test_a_tag_selects_exactly_its_scenarios(toy_project: pytest.Pytester) -> None:
    result = toy_project.runpytest_subprocess("-m", "first_line")
    result.assert_outcomes(passed=1, deselected=2)
    result = toy_project.runpytest_subprocess("-m", "toy_area")
    result.assert_outcomes(passed=1, failed=1, skipped=1)


def test_checklist_json_gives_every_line_one_state(toy_project: pytest.Pytester) -> None:
    import json

    result = toy_project.runpytest_subprocess("--readiness-json=out/readiness.json")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    document = json.loads((toy_project.path / "out" / "readiness.json").read_text())
    states = {line["scenario"]: line["state"] for line in document["lines"]}
    assert states == {
        "A line that passes": "verified",
        "A line that fails": "failed",
        "A line that is skipped": "not measured",
    }
    failed = next(line for line in document["lines"] if line["state"] == "failed")
    assert "severity_minor" in failed["tags"] and "toy_area" in failed["tags"]
    assert failed["messages"], "a failed line carries the failure message as evidence"


def test_deselected_lines_still_appear_as_not_measured(toy_project: pytest.Pytester) -> None:
    import json

    toy_project.runpytest_subprocess("-m", "first_line", "--readiness-json=c.json")
    document = json.loads((toy_project.path / "c.json").read_text())
    states = {line["scenario"]: (line["state"], line["selected"]) for line in document["lines"]}
    assert states == {
        "A line that passes": ("verified", True),
        "A line that fails": ("not measured", False),
        "A line that is skipped": ("not measured", False),
    }


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        (["--target-url=ftp://example.test"], {}, "command line --target-url"),
        ([], {"READINESS_TARGET_URL": "not a url"}, "environment variable READINESS_TARGET_URL"),
        (["--database-url=mysql://db.test/x"], {}, "command line --database-url"),
    ],
)
def test_a_bad_option_names_the_source_that_held_it(
    toy_project: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    source: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = toy_project.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{source} must be a*"])


def test_ini_key_sets_the_target_and_the_header_shows_it(toy_project: pytest.Pytester) -> None:
    toy_project.makeini(
        "[pytest]\naddopts = -p no:cacheprovider\nreadiness_target_url = https://payments.example.test\n"
    )
    result = toy_project.runpytest_subprocess("--collect-only")
    result.stdout.fnmatch_lines(["readiness target: https://payments.example.test"])


def test_the_header_redacts_database_passwords(toy_project: pytest.Pytester) -> None:
    result = toy_project.runpytest_subprocess(
        "--collect-only", "--database-url=postgresql://app:s3cret@db.test/app"
    )
    result.stdout.fnmatch_lines(["*postgresql://app:***@db.test/app*"])
    assert "s3cret" not in result.stdout.str()
