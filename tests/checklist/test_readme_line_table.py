"""The README's table of every line and what it needs from a target is whole and true to
the feature files: every scenario once, with its own tags, and nothing else.

The table is written by `readiness map --needs` from a full run of the embedded default
(reports/readiness.json); the needs column is what each line asked of the target there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from pytest_bdd.feature import get_feature

from readiness_harness.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
HEADING = "### Every line and what it needs from a target"
READINESS = str(Path(sys.executable).with_name("readiness"))


def table_rows() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README.md has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1]
    section = re.split(r"\n#{1,4} ", section, maxsplit=1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| ---") or line.startswith("| Area |"):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append([cell.replace("\\<", "<").replace("\\|", "|") for cell in cells])
    return rows


def scenarios() -> dict[str, list[str]]:
    """Scenario title -> the tags a person selects it by: its own and its feature's, not
    the feature's area tag (readiness.json's area_tag), not severity."""
    found: dict[str, list[str]] = {}
    for path in sorted((PROJECT_ROOT / "features").glob("*.feature")):
        feature = get_feature(str(path.parent), path.name)
        for scenario in feature.scenarios.values():
            area = sorted(feature.tags)[0] if feature.tags else ""
            tags = (scenario.tags | feature.tags) - {area}
            own = sorted(tag for tag in tags if not tag.startswith("severity_"))
            found[scenario.name] = own
    return found


def test_every_scenario_is_in_the_readme_table_once_with_its_tags() -> None:
    rows = table_rows()
    titles = [row[1] for row in rows]
    expected = scenarios()
    missing = sorted(set(expected) - set(titles))
    unknown = sorted(set(titles) - set(expected))
    twice = sorted({title for title in titles if titles.count(title) > 1})
    assert not missing, (
        f"README's line table lacks {missing}: rerun `readiness map --needs` after make readiness"
    )
    assert not unknown, f"README's line table names scenarios the features do not have: {unknown}"
    assert not twice, f"README's line table lists these twice: {twice}"
    for area, title, tags, needs in rows:
        shown = sorted(re.findall(r"`@([\w-]+)`", tags))
        assert shown == expected[title], f"{title!r}: README says {shown}, the feature file {expected[title]}"
        assert area and needs, f"{title!r}: a row needs its area and what it needs"


def test_the_needs_table_is_rendered_from_a_runs_needs(tmp_path: Path) -> None:
    run = {
        "lines": [
            {
                "area": "Restore drill",
                "area_tag": "restore_drill",
                "scenario": "The newest backup is complete | valid",
                "feature_file": "restore_drill.feature",
                "line_number": 3,
                "tags": ["backup_integrity", "restore_drill", "severity_blocker"],
                "needs": ["database", "redis", "backups", "admin", "gateway:standard"],
            },
            {
                "area": "Payment gateway",
                "area_tag": "gateway",
                "scenario": "A captured <gateway> payment delivers exactly one pack",
                "feature_file": "gateway.feature",
                "line_number": 9,
                "tags": ["capture_once", "gateway"],
                "needs": ["gateway:paypal", "gateway:stripe", "paypal_signing"],
            },
            {
                "area": "Smoke",
                "area_tag": "smoke",
                "scenario": "The service answers",
                "feature_file": "smoke.feature",
                "line_number": 1,
                "tags": ["smoke", "health"],
                "needs": [],
            },
        ]
    }
    path = tmp_path / "readiness.json"
    path.write_text(json.dumps(run))
    result = subprocess.run(
        [READINESS, "map", "--needs", "--readiness-json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| Area | Line | Tag | Needs from a target |"
    gateway, drill, smoke = lines[2:]
    assert "A captured \\<gateway> payment" in gateway
    assert (
        "signed deliveries of each gateway it uses (`STRIPE_WEBHOOK_SECRET`, `--paypal-sandbox`)" in gateway
    )
    assert "`@capture_once`" in gateway and "`@gateway`" not in gateway
    assert "complete \\| valid" in drill
    assert "signed deliveries of one gateway it uses" in drill
    assert "`--backup-path`, `--database-url`, `--redis-url`, the ADMIN_TOKEN environment variable" in drill
    assert smoke.endswith("| `@health` | its URL |")


def test_a_run_without_lines_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "readiness.json"
    path.write_text("{}")
    result = subprocess.run(
        [READINESS, "map", "--needs", "--readiness-json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "records no line" in result.stderr
