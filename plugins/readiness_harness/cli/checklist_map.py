"""`readiness map`: the checklist as the user wrote it, each line with its state in the last run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from readiness_harness.paths import PROJECT_ROOT

MARKS = {
    "verified": "PASS",
    "attested": "ATTESTED",
    "waived": "WAIVED",
    "failed": "FAIL",
    "not measured": "NOT MEASURED",
    "not applicable": "N/A",
    "absent": "NOT IN RUN",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "map",
        help="print every line of the user's checklist with the state of its scenarios in the last run",
        description="Read CHECKLIST_MAP.md (every line of docs/checklist.md and the scenarios that carry "
        "it) and a readiness.json, and print each checklist line with the state its scenarios had: "
        "verified only when every scenario (or example) that carries it was. Ends with the counts: "
        "lines in the document, lines mapped, lines verified or attested. Exit 0, or 2 when a file "
        "cannot be read.",
    )
    parser.add_argument(
        "--readiness-json",
        default=str(PROJECT_ROOT / "reports" / "readiness.json"),
        help="the run to read (default: reports/readiness.json, written by readiness check)",
    )
    parser.add_argument(
        "--needs",
        action="store_true",
        help="print instead a Markdown table of every line and what it asked of the target in that run "
        "(the README's table: run it on a full run of the embedded default, which gives every line "
        "what it asks for)",
    )
    parser.set_defaults(handler=checklist_map)


def checklist_map(args: argparse.Namespace) -> int:
    if args.needs:
        return needs_table(Path(args.readiness_json))
    from readiness_harness.checklist.source import (
        GOOD_STATES,
        checklist_items,
        load_map,
        row_state,
        row_states,
    )

    path = Path(args.readiness_json)
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
        rows = load_map()
        items = checklist_items()
    except (OSError, ValueError) as exc:
        print(f"readiness map: {exc}", file=sys.stderr)
        return 2
    lines = run.get("lines", [])
    section = None
    verified = 0
    for row in rows:
        if row.section != section:
            section = row.section
            print(f"\n{section}")
        state = row_state(row_states(row, lines))
        verified += state in GOOD_STATES
        names = ", ".join(str(selector) for selector in row.selectors)
        print(f"  [{MARKS.get(state, state.upper())}] {row.text.replace('**', '')}  ({names})")
    target = run.get("target", "?")
    partial = " (a partial run)" if run.get("partial") else ""
    print(
        f"\n{len(items)} lines in the checklist, {len(rows)} mapped to scenarios, {verified} verified or "
        f"attested against {target}{partial} ({path})"
    )
    return 0


def needs_table(path: Path) -> int:
    from readiness_harness.checklist.needs_table import render_needs_table

    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"readiness map: {exc}", file=sys.stderr)
        return 2
    lines = run.get("lines", [])
    if not lines:
        print(f"readiness map: {path} records no line", file=sys.stderr)
        return 2
    print(render_needs_table(lines), end="")
    return 0
