"""Allure results that read as the checklist: labels, attachments, environment, categories.

allure-pytest-bdd records the Gherkin feature and the tags; this adds the labels a
release report is browsed by (epic = checklist area tag, story = the checklist line,
severity from `@severity_*`), attaches each line's evidence and, once the run is judged,
readiness.json and the drill report, and writes environment.properties and the
categories that split product defects (assertions) from infrastructure errors.
Everything here is a no-op when pytest runs without `--alluredir`.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pytest
from allure_commons import plugin_manager
from allure_commons.types import AttachmentType, LabelType
from pytest_bdd.parser import Feature, Scenario

from readiness_harness.report.allure_lines import CATEGORIES

SEVERITIES = frozenset({"blocker", "critical", "normal", "minor", "trivial"})


def results_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("allure_report_dir", default=None)
    return Path(value) if value else None


def _label(name: str, *values: str) -> None:
    plugin_manager.hook.add_label(label_type=name, labels=values)


@pytest.hookimpl(trylast=True)  # after allure-pytest-bdd has opened the test case
def pytest_bdd_before_scenario(request: pytest.FixtureRequest, feature: Feature, scenario: Scenario) -> None:
    if results_dir(request.config) is None:
        return
    template = next((t for t in feature.scenarios.values() if t.line_number == scenario.line_number), None)
    _label(LabelType.STORY, template.name if template is not None else scenario.name)
    _label(LabelType.EPIC, feature.name)
    levels = [tag.removeprefix("severity_") for tag in sorted(scenario.tags) if tag.startswith("severity_")]
    _label(LabelType.SEVERITY, *[level for level in levels if level in SEVERITIES][:1])


def attach_json(name: str, value: Any) -> None:
    """Attach to the running test (no-op without allure)."""
    plugin_manager.hook.attach_data(
        body=json.dumps(value, indent=2, default=str),
        name=name,
        attachment_type=AttachmentType.JSON,
        extension="json",
    )


def finish(
    config: pytest.Config,
    target: str,
    readiness_json: Path | None,
    drill_report: Path | None,
    partial: bool = False,
) -> None:
    """Environment, categories and run-level attachments, after the run is judged."""
    folder = results_dir(config)
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    import cardpack_service

    environment = {
        "target": target,
        "python": platform.python_version(),
        "reference_service": cardpack_service.__version__,
        "pytest": pytest.__version__,
        "run": "partial (tag-filtered): not a verdict" if partial else "the whole checklist",
    }
    (folder / "environment.properties").write_text(
        "".join(f"{key}={value}\n" for key, value in environment.items()), encoding="utf-8"
    )
    (folder / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    for name, path in (("readiness.json", readiness_json), ("drill report", drill_report)):
        if path is not None and path.exists():
            plugin_manager.hook.global_attach_file(
                source=str(path), name=name, attachment_type=AttachmentType.JSON, extension="json"
            )
