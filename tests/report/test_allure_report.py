"""The Allure 3 HTML report is built offline from allure-pytest-bdd's results: every
scenario is in it with its labels, nothing in it calls outside, and history builds up
across runs.

Allure 3 comes from npm (package.json pins it; `npm ci` installs it). Without npm these
tests fail, never skip, with a message that says so: CI has Node.js and npm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness_harness.report import allure_report
from readiness_harness.report.allure_report import AllureReportError, AllureUnavailable

FEATURE = """\
@toy_area
Feature: Toy checklist
  @first_line @severity_critical
  Scenario: A line that passes
    Given a number 2
    Then it is even

  @second_line @severity_minor
  Scenario Outline: Number <n> is even
    Given a number <n>
    Then it is even

    Examples:
      | n |
      | 4 |
      | 5 |

  @third_line
  Scenario: A line that is skipped
    Given a skipped precondition
"""


# The label mapping for the readiness plugin (proposed for plugin.py; remove it here
# once the plugin applies it, or every label below would appear twice): epic from the
# feature's tags, story from the scenario's wording, severity from a @severity_* tag.
# allure-pytest-bdd itself only sets `feature` and turns every tag into a `tag` label.

EXPECTED = {
    # name: (status, story, severity, scenario tags)
    "A line that passes": ("passed", "A line that passes", "critical", {"first_line", "severity_critical"}),
    "Number 4 is even": ("passed", "Number <n> is even", "minor", {"second_line", "severity_minor"}),
    "Number 5 is even": ("failed", "Number <n> is even", "minor", {"second_line", "severity_minor"}),
    "A line that is skipped": ("skipped", "A line that is skipped", None, {"third_line"}),
}


@pytest.fixture(scope="module")
def allure_cli() -> Path:
    try:
        return allure_report.ensure_allure()
    except AllureUnavailable as exc:
        pytest.fail(f"Allure 3 is needed for the report tests: {exc}", pytrace=False)


@pytest.fixture
def results(pytester: pytest.Pytester, allure_cli: Path, toy_steps: str) -> Path:
    """Run the toy checklist with allure-pytest-bdd writing results; return their folder."""
    pytester.makefile(".feature", **{"features/toy": FEATURE})
    pytester.makeconftest(toy_steps)
    # allure-pytest and allure-pytest-bdd both add --alluredir: only the BDD one may run.
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider -p no:allure_pytest\n")
    results_dir = pytester.path / "allure-results"
    outcome = pytester.runpytest_subprocess(f"--alluredir={results_dir}")
    outcome.assert_outcomes(passed=2, failed=1, skipped=1)
    return results_dir


def _labels(case: dict[str, object], name: str) -> list[object]:
    labels = case["labels"]
    assert isinstance(labels, list)
    return [label["value"] for label in labels if label["name"] == name]


def test_every_scenario_is_in_the_report_with_its_labels(results: Path, tmp_path: Path) -> None:
    report = allure_report.build_report(results, tmp_path / "report", None)
    assert (report / "index.html").is_file()
    cases = {case["name"]: case for case in allure_report.report_data(report)}
    assert set(cases) == set(EXPECTED)
    for name, (status, story, severity, tags) in EXPECTED.items():
        case = cases[name]
        assert case["status"] == status, name
        assert _labels(case, "feature") == ["Toy checklist"], name
        assert _labels(case, "story") == [story], name
        assert _labels(case, "epic") == ["Toy checklist"], name
        assert _labels(case, "severity") == ([severity] if severity else []), name
        assert set(_labels(case, "tag")) == tags | {"toy_area"}, name
        assert case["history"] == [], "a report built without a history file has no history"


def test_the_report_calls_nothing_outside(results: Path, tmp_path: Path) -> None:
    report = allure_report.build_report(results, tmp_path / "report", None)
    assert allure_report.external_references(report) == []
    for path in report.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").lower()
            for marker in ("googletagmanager", "google-analytics", "gtag(", "mc.yandex", "yandex.ru/metrika"):
                assert marker not in text, f"{path} mentions {marker}"
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "<title> Production readiness </title>" in index
    assert 'src="http' not in index and 'href="http' not in index, "index.html loads nothing remote"


def test_history_builds_up_across_runs(results: Path, tmp_path: Path) -> None:
    history = tmp_path / "history" / "readiness-history.jsonl"
    first = allure_report.build_report(results, tmp_path / "report", history)
    assert len(allure_report.history_entries(history)) == 1
    assert all(case["history"] == [] for case in allure_report.report_data(first))

    second = allure_report.build_report(results, tmp_path / "report", history)
    entries = allure_report.history_entries(history)
    assert len(entries) == 2
    assert {entry["name"] for entry in entries} == {"Production readiness"}
    previous = {case["name"]: case["history"] for case in allure_report.report_data(second)}
    assert previous["Number 5 is even"] == ["failed"]
    assert previous["A line that passes"] == ["passed"]


def test_an_allure_failure_carries_its_message(tmp_path: Path, allure_cli: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "0-result.json").write_text('{"uuid": "0", "name": "x", "status": "passed"}\n')
    project = tmp_path / "project"
    (project / "node_modules").mkdir(parents=True)
    (project / "node_modules" / ".bin").symlink_to(allure_cli.parent)
    (project / "allurerc.mjs").write_text('export default { name: "x", analyticsEnable: false };\n')
    with pytest.raises(AllureReportError, match="unsupported fields: analyticsEnable"):
        allure_report.build_report(results, tmp_path / "report", None, project_root=project)


def test_missing_results_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(AllureReportError, match="--alluredir"):
        allure_report.build_report(tmp_path, tmp_path / "report", None)


def test_a_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "package-lock.json").write_text("{}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(AllureUnavailable, match="npm was not found"):
        allure_report.ensure_allure(tmp_path)


def test_the_analytics_tag_is_stripped_and_unknown_hosts_are_caught(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        "<body>\n"
        '    <script src="app.js"></script>\n'
        '    <script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST"></script>\n'
        "    <script>\n"
        "        window.dataLayer = window.dataLayer || [];\n"
        "        function gtag(){dataLayer.push(arguments);}\n"
        "        gtag('config', 'G-TEST');\n"
        "    </script>\n"
        "</body>\n"
    )
    (tmp_path / "app.js").write_text(
        'const ns="http://www.w3.org/2000/svg";fetch("https://cdn.example.com/x")\n'
    )
    assert allure_report.strip_analytics(tmp_path) == [tmp_path / "index.html"]
    assert (tmp_path / "index.html").read_text() == '<body>\n    <script src="app.js"></script>\n</body>\n'
    assert allure_report.external_references(tmp_path) == [(tmp_path / "app.js", "https://cdn.example.com")]
