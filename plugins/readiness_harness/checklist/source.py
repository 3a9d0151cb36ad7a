"""The checklist as the user wrote it (docs/checklist.md), and the map to its scenarios.

`checklist_items()` lists every line of the document's checklists and lists: the
`- [ ]` items, the `- ✅` items of the implementation status, and the plain `-` items of
the Post-Launch Monitoring lists, each with the headings above it (code blocks are
skipped). `load_map()` reads CHECKLIST_MAP.md: for each line, the scenarios that carry it,
named by tag (`@weekly_auto_drill`) or by tag and example (`@gateway_secrets[gateway=stripe]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readiness_harness.paths import PROJECT_ROOT

CHECKLIST_DOCUMENT = PROJECT_ROOT / "docs" / "checklist.md"
CHECKLIST_MAP = PROJECT_ROOT / "CHECKLIST_MAP.md"
SECTIONS = (
    "YOU ARE PRODUCTION READY WHEN",
    "Implementation Status",
    "Pre-Launch Checklist",
    "Post-Launch Monitoring",
    "Continuous Improvement",
)
"""The top-level parts (## headings) whose lines the feature files must carry."""
SEPARATOR = " \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} "

_HEADING = re.compile(r"^(?P<level>#{2,6})\s+(?P<title>.+?)\s*$")
_ITEM = re.compile(r"^\s*-\s+(?:\[[ xX]\]\s+|✅\s+)?(?P<text>\S.*?)\s*$")
_SELECTOR = re.compile(r"`@(?P<tag>[\w-]+)(?:\[(?P<example>[^\]]+)\])?`")


def heading_title(raw: str) -> str:
    """A heading without its emoji and number: `### ✅ Restore Drill` -> `Restore Drill`."""
    return re.sub(r"^[^\w]+|^\d+\.\s*", "", raw.strip()).strip()


@dataclass(frozen=True)
class ChecklistItem:
    section: tuple[str, ...]
    text: str
    line_number: int

    @property
    def where(self) -> str:
        return SEPARATOR.join(self.section)


def checklist_items(document: Path = CHECKLIST_DOCUMENT) -> list[ChecklistItem]:
    items: list[ChecklistItem] = []
    path: list[tuple[int, str]] = []
    in_code = False
    for number, line in enumerate(document.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        heading = _HEADING.match(line)
        if heading:
            level = len(heading["level"])
            path = [(lvl, title) for lvl, title in path if lvl < level] + [
                (level, heading_title(heading["title"]))
            ]
            continue
        item = _ITEM.match(line)
        if item and path and path[0][1] in SECTIONS:
            items.append(ChecklistItem(tuple(title for _, title in path), item["text"], number))
    return items


@dataclass(frozen=True)
class Selector:
    """A scenario named in the map: by tag, and optionally one example (`column=value`)."""

    tag: str
    example: dict[str, str] | None

    def __str__(self) -> str:
        if self.example is None:
            return f"@{self.tag}"
        return f"@{self.tag}[{', '.join(f'{k}={v}' for k, v in self.example.items())}]"


@dataclass(frozen=True)
class MapRow:
    section: str
    text: str
    selectors: tuple[Selector, ...]
    scenarios: str
    """The map's own wording of the scenario titles (kept true by the map's test)."""
    line_number: int


def _selector(match: re.Match[str]) -> Selector:
    example = match["example"]
    if example is None:
        return Selector(match["tag"], None)
    pairs = [part.split("=", 1) for part in example.split(",")]
    return Selector(match["tag"], {key.strip(): value.strip() for key, value in pairs})


def load_map(path: Path = CHECKLIST_MAP) -> list[MapRow]:
    """Every table row of the map under a `## section` heading."""
    rows: list[MapRow] = []
    section = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("|") or line.startswith("| ---") or line.startswith("| Checklist line"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) != 3:
            raise ValueError(f"{path}:{number}: a row has {len(cells)} cells, expected 3: {line}")
        text, carried, scenarios = cells
        rows.append(
            MapRow(section, text, tuple(_selector(m) for m in _SELECTOR.finditer(carried)), scenarios, number)
        )
    return rows


@dataclass(frozen=True)
class IndexedScenario:
    name: str
    feature_file: str
    examples: tuple[dict[str, str], ...]
    """The rows of its Examples tables (empty for a plain scenario)."""

    def has_example(self, wanted: dict[str, str]) -> bool:
        return any(all(row.get(key) == value for key, value in wanted.items()) for row in self.examples)


def scenario_index(features_dir: Path) -> dict[str, list[IndexedScenario]]:
    """Every scenario tag of the feature files -> the scenarios that carry it."""
    from pytest_bdd.feature import get_feature

    index: dict[str, list[IndexedScenario]] = {}
    for path in sorted(features_dir.rglob("*.feature")):
        feature = get_feature(str(path.parent), path.name)
        for scenario in feature.scenarios.values():
            rows = tuple(
                {str(k): str(v) for k, v in row.items()}
                for examples in scenario.examples
                for row in examples.as_contexts()
            )
            for tag in scenario.tags:
                index.setdefault(tag, []).append(IndexedScenario(scenario.name, path.name, rows))
    return index


def map_problems(
    items: list[ChecklistItem],
    rows: list[MapRow],
    index: dict[str, list[IndexedScenario]],
    pending: dict[str, str],
) -> list[str]:
    """Everything that makes the map untrue (empty when it is true): a line without a row,
    a row for no line, a row naming nothing, a tag or example that does not exist (tags in
    `pending`, other branches', excepted), a scenario title that is not the feature's."""
    problems = []
    keyed = {(row.section, row.text): row for row in rows}
    lines = {(item.where, item.text) for item in items}
    for item in items:
        if (item.where, item.text) not in keyed:
            problems.append(f"no row for the line {item.text!r} ({item.where})")
    for row in rows:
        where = f"{CHECKLIST_MAP.name}:{row.line_number}"
        if (row.section, row.text) not in lines:
            problems.append(
                f"{where}: a row for {row.text!r} ({row.section}), which the checklist does not have"
            )
        if not row.selectors:
            problems.append(f"{where}: {row.text!r} names no scenario (`@tag`)")
        expected: list[str] = []
        for selector in row.selectors:
            scenarios = index.get(selector.tag)
            if scenarios is None:
                if selector.tag in pending:
                    expected.append(f"pending: the {pending[selector.tag]} branch")
                else:
                    problems.append(f"{where}: no scenario is tagged @{selector.tag}")
                continue
            expected += [scenario.name for scenario in scenarios]
            if selector.example is not None and not any(s.has_example(selector.example) for s in scenarios):
                problems.append(f"{where}: no example {selector} among {[s.name for s in scenarios]}")
        shown = " / ".join(dict.fromkeys(expected))
        if row.selectors and row.scenarios.replace("\\<", "<") != shown:
            problems.append(
                f"{where}: the scenario column says {row.scenarios!r}, the feature files {shown!r}"
            )
    if len(keyed) != len(rows):
        problems.append("a checklist line has more than one row")
    return problems


GOOD_STATES = ("verified", "attested")


def row_states(row: MapRow, lines: list[dict[str, Any]]) -> list[str]:
    """The states, in a readiness.json's `lines`, of what a map row names: each line
    carrying a tag, or each matching example; `absent` for a selector nothing matches."""
    states: list[str] = []
    for selector in row.selectors:
        carrying = [line for line in lines if selector.tag in line.get("tags", [])]
        if not carrying:
            states.append("absent")
            continue
        for line in carrying:
            if selector.example is None:
                states.append(str(line.get("state")))
                continue
            wanted = selector.example
            matched = [
                example
                for example in line.get("examples", [])
                if all(str(example.get("params", {}).get(k)) == v for k, v in wanted.items())
            ]
            states += [str(example.get("state")) for example in matched] or ["absent"]
    return states


def row_state(states: list[str]) -> str:
    """One state for a checklist line from its scenarios' (the worst one wins; not
    applicable examples count only when nothing else does)."""
    counted = [state for state in states if state != "not applicable"] or states
    for worst in ("failed", "absent", "not measured", "waived"):
        if worst in counted:
            return worst
    if counted and all(state in GOOD_STATES for state in counted):
        return "attested" if all(state == "attested" for state in counted) else "verified"
    return counted[0] if counted else "absent"
