"""Allure results that read as the checklist: labels, attachments, environment, categories.

allure-pytest-bdd records the Gherkin feature and the tags; this adds the labels a
release report is browsed by (epic = checklist area tag, story = the checklist line,
severity from `@severity_*`), attaches each line's evidence and, once the run is judged,
readiness.json and the drill report, and writes environment.properties and the
categories that split product defects (assertions) from infrastructure errors.
Everything here is a no-op when pytest runs without `--alluredir`.

CI publishes these results, so no secret may reach them: each result and container is
scrubbed (`settings.secrets.scrub`) before allure writes it (allure-pytest-bdd builds a
failure's message from the raw exception), each attachment right after it is written,
and, as the last line of defence, every file of the results folder once the run ends.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import attr
import pytest
from allure_commons import hookimpl, plugin_manager
from allure_commons.types import AttachmentType, LabelType
from pytest_bdd.parser import Feature, Scenario

from readiness_harness.report.allure_lines import CATEGORIES
from readiness_harness.settings.secrets import scrub, scrub_file, scrub_tree

SEVERITIES = frozenset({"blocker", "critical", "normal", "minor", "trivial"})


SCRUBBER_NAME = "readiness-scrubber"


def results_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("allure_report_dir", default=None)
    return Path(value).resolve() if value else None


def _scrubbed(value: Any) -> Any:
    """`value` with every string in it scrubbed; allure's attrs models in place."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if attr.has(type(value)):
        for field in attr.fields(type(value)):
            setattr(value, field.name, _scrubbed(getattr(value, field.name)))
    return value


class ResultScrubber:
    """On allure's plugin manager: results scrubbed before the file logger writes them,
    attachments scrubbed right after it has."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl(tryfirst=True)
    def report_result(self, result: Any) -> None:
        _scrubbed(result)

    @hookimpl(tryfirst=True)
    def report_container(self, container: Any) -> None:
        _scrubbed(container)

    @hookimpl(tryfirst=True)
    def report_globals(self, globals_item: Any) -> None:
        _scrubbed(globals_item)

    @hookimpl(trylast=True)
    def report_attached_data(self, body: Any, file_name: str) -> None:
        scrub_file(self.folder / file_name)

    @hookimpl(trylast=True)
    def report_attached_file(self, source: str, file_name: str) -> None:
        scrub_file(self.folder / file_name)


def pytest_configure(config: pytest.Config) -> None:
    folder = results_dir(config)
    if folder is not None and plugin_manager.get_plugin(SCRUBBER_NAME) is None:
        plugin_manager.register(ResultScrubber(folder), SCRUBBER_NAME)


@pytest.hookimpl(trylast=True)  # after every other writer of the run
def pytest_unconfigure(config: pytest.Config) -> None:
    folder = results_dir(config)
    if plugin_manager.get_plugin(SCRUBBER_NAME) is not None:
        plugin_manager.unregister(name=SCRUBBER_NAME)
    if folder is not None:
        scrub_tree(folder)


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
        body=scrub(json.dumps(value, indent=2, default=str)),
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
        scrub("".join(f"{key}={value}\n" for key, value in environment.items())), encoding="utf-8"
    )
    (folder / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    for name, path in (("readiness.json", readiness_json), ("drill report", drill_report)):
        if path is not None and path.exists():
            plugin_manager.hook.global_attach_file(
                source=str(path), name=name, attachment_type=AttachmentType.JSON, extension="json"
            )
    scrub_tree(folder)
