"""The checklist as pytest runs it: one line per scenario of the feature files.

`ChecklistRecorder` is a pytest plugin object: it sees every collected scenario (before
any `-m` deselection, so a line that did not run still appears) and the outcome of each
of its examples, and folds them into one state per line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd.parser import ScenarioTemplate
from pytest_bdd.scenario import scenario_wrapper_template_registry
from pytest_bdd.utils import registry_get_safe

EVIDENCE_PREFIX = "evidence:"
VERIFIED = "verified"
FAILED = "failed"
NOT_MEASURED = "not measured"


@dataclass
class ChecklistLine:
    area: str
    scenario: str
    feature_file: str
    line_number: int
    tags: list[str]
    test_ids: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    deselected: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def selected(self) -> bool:
        """False when a -m/-k filter left every example of this line out of the run."""
        return len(self.deselected) < len(self.test_ids)

    @property
    def key(self) -> str:
        return f"{self.feature_file}:{self.line_number}"

    @property
    def state(self) -> str:
        results = [self.outcomes.get(test_id) for test_id in self.test_ids]
        if any(result == "failed" for result in results):
            return FAILED
        if results and all(result == "passed" for result in results):
            return VERIFIED
        return NOT_MEASURED

    @property
    def summary(self) -> str:
        passed = sum(1 for result in self.outcomes.values() if result == "passed")
        return f"{passed}/{len(self.test_ids)}"


def _scenario_of(item: pytest.Item) -> ScenarioTemplate | None:
    function = getattr(item, "obj", None)
    if function is None:
        return None
    template: ScenarioTemplate | None = registry_get_safe(scenario_wrapper_template_registry, function)
    return template


class ChecklistRecorder:
    """Collects checklist lines and their outcomes during a pytest run."""

    def __init__(self, rootdir: Path | None = None) -> None:
        self.lines: dict[str, ChecklistLine] = {}
        self._line_of: dict[str, ChecklistLine] = {}
        self.rootdir = rootdir

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        template = _scenario_of(item)
        if template is None:
            return
        feature_path = Path(template.feature.filename)
        shown = feature_path.name
        key = f"{shown}:{template.line_number}"
        line = self.lines.get(key)
        if line is None:
            line = ChecklistLine(
                area=template.feature.name,
                scenario=template.name,
                feature_file=shown,
                line_number=template.line_number,
                tags=sorted(template.tags | template.feature.tags),
            )
            self.lines[key] = line
        line.test_ids.append(item.nodeid)
        self._line_of[item.nodeid] = line

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            line = self._line_of.get(item.nodeid)
            if line is not None:
                line.deselected.append(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        line = self._line_of.get(report.nodeid)
        if line is None:
            return
        for name, value in report.user_properties:
            if name.startswith(EVIDENCE_PREFIX):
                line.evidence[name.removeprefix(EVIDENCE_PREFIX)] = value
        if report.failed:
            line.outcomes[report.nodeid] = "failed"
            message = str(report.longrepr).strip().splitlines()
            if message:
                line.messages.append(f"{report.nodeid}: {message[-1][:300]}")
        elif report.skipped and report.nodeid not in line.outcomes:
            line.outcomes[report.nodeid] = "skipped"
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            if reason:
                line.messages.append(f"{report.nodeid}: {reason}")
        elif report.when == "call" and report.passed:
            line.outcomes.setdefault(report.nodeid, "passed")

    def ordered(self) -> list[ChecklistLine]:
        return sorted(self.lines.values(), key=lambda line: (line.feature_file, line.line_number))


def line_to_dict(line: ChecklistLine) -> dict[str, Any]:
    return {**asdict(line), "state": line.state, "summary": line.summary, "selected": line.selected}


def line_from_dict(data: dict[str, Any]) -> ChecklistLine:
    names = {item.name for item in fields(ChecklistLine)}
    return ChecklistLine(**{key: value for key, value in data.items() if key in names})
