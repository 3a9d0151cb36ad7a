"""CHECKLIST_MAP.md maps every line of the user's checklist to scenarios that exist.

The document is docs/checklist.md (the checklist as the user wrote it); the map's rows
name scenarios by tag or by tag and example. Tags other branches are adding may be listed
in PENDING_TAGS while they are not merged, and never on main.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from readiness_harness.checklist.source import (
    CHECKLIST_MAP,
    IndexedScenario,
    checklist_items,
    load_map,
    map_problems,
    scenario_index,
)
from readiness_harness.paths import PROJECT_ROOT

PENDING_TAGS: dict[str, str] = {}
"""Tags of lines other branches are building: allowed in the map only until they merge."""

AREA_TAGS = {"gateway", "smoke", "prelaunch", "monitoring", "restore_drill", "security", "resilience"}


@pytest.fixture(scope="module")
def index() -> dict[str, list[IndexedScenario]]:
    return scenario_index(PROJECT_ROOT / "features")


def _on_main() -> bool:
    if os.environ.get("GITHUB_REF") == "refs/heads/main" or os.environ.get("GITHUB_BASE_REF") == "main":
        return True
    branch = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return branch == "main"


def test_the_document_is_the_checklist_as_the_user_wrote_it() -> None:
    items = checklist_items()
    assert {item.section[0] for item in items} == {
        "YOU ARE PRODUCTION READY WHEN",
        "Implementation Status",
        "Pre-Launch Checklist",
        "Post-Launch Monitoring",
        "Continuous Improvement",
    }
    assert len(items) == 81, f"{len(items)} lines: the document changed; update the map and this count"


def test_the_map_is_true(index: dict[str, list[IndexedScenario]]) -> None:
    problems = map_problems(checklist_items(), load_map(), index, PENDING_TAGS)
    assert not problems, f"{CHECKLIST_MAP.name} is not true:\n" + "\n".join(problems)


def test_the_map_names_lines_never_whole_areas() -> None:
    named = {selector.tag for row in load_map() for selector in row.selectors}
    assert not named & AREA_TAGS, f"the map names whole areas instead of lines: {sorted(named & AREA_TAGS)}"


def test_pending_tags_are_pending_only_while_they_are_not_merged(
    index: dict[str, list[IndexedScenario]],
) -> None:
    merged = sorted(tag for tag in PENDING_TAGS if tag in index)
    assert not merged, (
        f"these tags exist now: remove them from PENDING_TAGS and name their scenarios: {merged}"
    )
    if PENDING_TAGS and _on_main():
        pytest.fail(
            f"{len(PENDING_TAGS)} pending tags on main ({', '.join(sorted(PENDING_TAGS))}): every line of "
            "the checklist must be carried by a scenario that exists; merge their branches and map them"
        )


def _broken_map(tmp_path: Path, old: str, new: str) -> Path:
    text = CHECKLIST_MAP.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / CHECKLIST_MAP.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        pytest.param(
            "| Redis cluster operational | `@redis_replication` | The Redis cache is replicated and its "
            "replicas are in sync |\n",
            "",
            "no row for the line 'Redis cluster operational'",
            id="a line without a row",
        ),
        pytest.param(
            "`@redis_replication`",
            "`@redis_cluster`",
            "no scenario is tagged @redis_cluster",
            id="a tag that is gone",
        ),
        pytest.param(
            "`@gateway_secrets[gateway=stripe]`",
            "`@gateway_secrets[gateway=adyen]`",
            "no example @gateway_secrets[gateway=adyen]",
            id="an example that is gone",
        ),
        pytest.param(
            "The Redis cache is replicated and its replicas are in sync |",
            "Redis answers |",
            "the scenario column says 'Redis answers'",
            id="a renamed scenario",
        ),
        pytest.param(
            "| Redis cluster operational |",
            "| Redis sentinel operational |",
            "which the checklist does not have",
            id="a row for no line",
        ),
    ],
)
def test_a_map_that_is_not_true_says_where(
    tmp_path: Path, index: dict[str, list[IndexedScenario]], old: str, new: str, problem: str
) -> None:
    rows = load_map(_broken_map(tmp_path, old, new))
    problems = map_problems(checklist_items(), rows, index, PENDING_TAGS)
    assert any(problem in found for found in problems), problems
