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
