"""The checklist as pytest runs it: one line per scenario, one example per test item.

`ChecklistRecorder` is a pytest plugin object: it sees every collected scenario (before
any `-m` deselection, so a line that did not run still appears) and the outcome of each
of its examples. A line's state comes from its applicable examples only: examples about
a gateway the target does not use are "not applicable" and never count against it.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd.parser import ScenarioTemplate
from pytest_bdd.scenario import scenario_wrapper_template_registry
from pytest_bdd.utils import registry_get_safe

from readiness_harness.checklist.needs import NEEDS, needed_by
from readiness_harness.checklist.outcomes import (
    FAILED,
    NOT_APPLICABLE,
    NOT_MEASURED,
    VERIFIED,
    state_of_skip,
)
from readiness_harness.settings.secrets import scrub

EVIDENCE_PREFIX = "evidence:"
MESSAGE_PROPERTY = "readiness:message"
MESSAGE_LIMIT = 400


@dataclass
class Example:
    """One test item of a line: a row of the outline's examples (or the plain scenario)."""

    test_id: str
    params: dict[str, str] = field(default_factory=dict)
    outcome: str = "not run"
    """What pytest did: passed, failed, skipped, deselected or not run."""
    state: str = NOT_MEASURED
    message: str = ""
    """Why it failed (the assertion's own first line) or why it was not measured."""
    evidence: dict[str, Any] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    """The capabilities it asked of the target while it ran (checklist.needs)."""

    @property
    def label(self) -> str:
        """The example as a person names it: `gateway=stripe` (empty for a plain scenario)."""
        return ", ".join(f"{key}={value}" for key, value in self.params.items())

    def matches(self, wanted: str | dict[str, Any]) -> bool:
        """True when `wanted` names this example: a mapping of columns, or its text form
        (`gateway=paypal`, `gateway=paypal, n=3`), or a value only this example's row holds
        in a single column (`paypal`), or pytest's id of it (`paypal-3`)."""
        if isinstance(wanted, dict):
            return bool(wanted) and all(
                self.params.get(str(key)) == str(value) for key, value in wanted.items()
            )
        text = str(wanted).strip()
        if "=" in text:
            pairs = [part.split("=", 1) for part in text.split(",")]
            return self.matches({key.strip(): value.strip() for key, value in pairs})
        values = list(self.params.values())
        return text == self.test_id.rsplit("[", 1)[-1].rstrip("]") or (values.count(text) == 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "params": self.params,
            "outcome": self.outcome,
            "state": self.state,
            "message": self.message,
            "evidence": self.evidence,
            "needs": self.needs,
        }


@dataclass
class ChecklistLine:
    area: str
    """The feature's title, as stakeholders read it."""
    area_tag: str
    scenario: str
    feature_file: str
    line_number: int
    tags: list[str]
    examples: list[Example] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.feature_file}:{self.line_number}"

    @property
    def test_ids(self) -> list[str]:
        return [example.test_id for example in self.examples]

    @property
    def selected(self) -> bool:
        """False when a -m/-k filter left every example of this line out of the run."""
        return any(example.outcome != "deselected" for example in self.examples)

    @property
    def applicable(self) -> list[Example]:
        return [example for example in self.examples if example.state != NOT_APPLICABLE]

    @property
    def state(self) -> str:
        """The line's state before waivers, from its applicable examples."""
        if self.examples and not self.applicable:
            return NOT_APPLICABLE
        states = [example.state for example in self.applicable]
        if FAILED in states:
            return FAILED
        if states and all(state == VERIFIED for state in states):
            return VERIFIED
        return NOT_MEASURED

    @property
    def summary(self) -> str:
        counts: dict[str, int] = {}
        for example in self.examples:
            counts[example.state] = counts.get(example.state, 0) + 1
        verified = counts.pop(VERIFIED, 0)
        applicable = len(self.applicable)
        rest = "".join(f", {count} {state}" for state, count in sorted(counts.items()) if state != FAILED)
        failed = f", {counts[FAILED]} failed" if FAILED in counts else ""
        return f"{verified}/{applicable}{failed}{rest}" if rest or failed else f"{verified}/{applicable}"

    @property
    def messages(self) -> list[str]:
        """One line per example that did not pass, failures first."""
        order = {FAILED: 0, NOT_MEASURED: 1, NOT_APPLICABLE: 2}
        out = []
        for example in sorted(self.examples, key=lambda e: order.get(e.state, 3)):
            if example.state != VERIFIED and example.message:
                where = f"[{example.label}] " if example.label else ""
                out.append(f"{example.state}: {where}{example.message}")
        return out

    @property
    def evidence(self) -> dict[str, Any]:
        """Every example's evidence; keyed by example label when the line has several."""
        if len(self.examples) == 1:
            return self.examples[0].evidence
        return {example.label: example.evidence for example in self.examples if example.evidence}

    @property
    def needs(self) -> list[str]:
        """What its examples asked of the target, together."""
        return sorted({need for example in self.examples for need in example.needs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "area_tag": self.area_tag,
            "scenario": self.scenario,
            "feature_file": self.feature_file,
            "line_number": self.line_number,
            "tags": self.tags,
            "state": self.state,
            "summary": self.summary,
            "selected": self.selected,
            "test_ids": self.test_ids,
            "messages": self.messages,
            "needs": self.needs,
            "examples": [example.to_dict() for example in self.examples],
        }


def line_from_dict(data: dict[str, Any]) -> ChecklistLine:
    """A line read back from readiness.json."""
    return ChecklistLine(
        area=data["area"],
        area_tag=data.get("area_tag", ""),
        scenario=data["scenario"],
        feature_file=data["feature_file"],
        line_number=data["line_number"],
        tags=list(data.get("tags", [])),
        examples=[Example(**example) for example in data.get("examples", [])],
    )


def _scenario_of(item: pytest.Item) -> ScenarioTemplate | None:
    function = getattr(item, "obj", None)
    if function is None:
        return None
    template: ScenarioTemplate | None = registry_get_safe(scenario_wrapper_template_registry, function)
    return template


def example_params(item: pytest.Item) -> dict[str, str]:
    """The example row of a scenario outline item, plus any other parameter (a fleet
    host, say), as strings."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return {}
    params: dict[str, str] = {}
    row = callspec.params.get("_pytest_bdd_example")
    if isinstance(row, dict):
        params.update({str(key): str(value) for key, value in row.items()})
    for name, value in callspec.params.items():
        if name != "_pytest_bdd_example":
            params[name] = str(value)
    return params


def first_line(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The failure as its author worded it: an assertion's own message (first line), or
    the exception's type and message."""
    error = excinfo.value
    text = str(error).strip()
    if isinstance(error, AssertionError):
        line = text.splitlines()[0] if text else "assertion failed"
    else:
        line = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")
    return scrub(line)[:MESSAGE_LIMIT]


class ChecklistRecorder:
    """Collects checklist lines and their examples' outcomes during a pytest run."""

    def __init__(self) -> None:
        self.lines: dict[str, ChecklistLine] = {}
        self._example_of: dict[str, tuple[ChecklistLine, Example]] = {}
        self._fixture_needs: dict[str, set[str]] = {}
        self._fixtures_used: dict[str, set[str]] = {}
        self._raised_needs: dict[str, set[str]] = {}
        """Fixture name -> what it asked of the target when it was set up (once per scope)."""

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        template = _scenario_of(item)
        if template is None:
            return
        shown = Path(template.feature.filename).name
        key = f"{shown}:{template.line_number}"
        line = self.lines.get(key)
        if line is None:
            feature_tags = sorted(template.feature.tags)
            line = ChecklistLine(
                area=template.feature.name,
                area_tag=feature_tags[0] if feature_tags else "",
                scenario=template.name,
                feature_file=shown,
                line_number=template.line_number,
                tags=sorted(template.tags | template.feature.tags),
            )
            self.lines[key] = line
        example = Example(item.nodeid, example_params(item))
        line.examples.append(example)
        self._example_of[item.nodeid] = (line, example)

    def example(self, nodeid: str) -> Example | None:
        found = self._example_of.get(nodeid)
        return found[1] if found else None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        for item in items:
            example = self.example(item.nodeid)
            if example is not None:
                example.outcome = "deselected"
                example.message = "deselected by -m/-k: not run"

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        with NEEDS.frame() as noted:
            try:
                return (yield)
            finally:
                self._fixture_needs.setdefault(fixturedef.argname, set()).update(noted)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, Any, Any]:
        with NEEDS.frame() as noted:
            try:
                return (yield)
            finally:
                example = self.example(item.nodeid)
                if example is not None:
                    for name in self._fixtures_used.pop(item.nodeid, set()):
                        noted |= self._fixture_needs.get(name, set())
                    noted |= self._raised_needs.pop(item.nodeid, set())
                    example.needs = sorted(noted)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        # Steps ask for their fixtures by name while they run (getfixturevalue), so
        # item.fixturenames misses most; the item's request knows every one it set up
        # or reused, until the protocol ends. (`_fixture_defs` is pytest's own, private.)
        request = getattr(item, "_request", None)
        used = set(getattr(request, "_fixture_defs", {}) or {}) | set(getattr(item, "fixturenames", ()))
        self._fixtures_used[item.nodeid] = used

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        needed = needed_by(call.excinfo.value) if call.excinfo is not None else None
        if needed is not None:
            self._raised_needs.setdefault(item.nodeid, set()).add(needed)
        if report.failed and call.excinfo is not None:
            report.user_properties.append((MESSAGE_PROPERTY, first_line(call.excinfo)))
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        example = self.example(report.nodeid)
        if example is None:
            return
        for name, value in report.user_properties:
            if name.startswith(EVIDENCE_PREFIX):
                example.evidence[name.removeprefix(EVIDENCE_PREFIX)] = value
        if report.failed:
            if example.outcome != "failed":  # the first failure (call before teardown) says why
                recorded = dict(report.user_properties).get(MESSAGE_PROPERTY)
                example.message = str(recorded) if recorded else _last_line(report)
            example.outcome, example.state = "failed", FAILED
        elif report.skipped and example.outcome not in ("failed", "skipped"):
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            example.outcome = "skipped"
            example.state, example.message = state_of_skip(scrub(str(reason)))
        elif report.when == "call" and report.passed and example.outcome == "not run":
            example.outcome, example.state, example.message = "passed", VERIFIED, ""

    def ordered(self) -> list[ChecklistLine]:
        return sorted(self.lines.values(), key=lambda line: (line.feature_file, line.line_number))


def _last_line(report: pytest.TestReport) -> str:
    lines = str(report.longrepr).strip().splitlines()
    return scrub(lines[-1])[:MESSAGE_LIMIT] if lines else "failed"
