"""Write a daily or weekly review as dated Markdown and JSON, with its plots beside them.

    reports/daily/daily_2026-12-01.md     the review for people (plots embedded)
    reports/daily/daily_2026-12-01.json   the same for machines
    reports/weekly/weekly_2026-12-01_drill_rto_rpo.svg ...

Every text written passes through `scrub()`: no secret reaches a report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from readiness_harness.monitoring.reviews import BREACH, NOT_MEASURED, OK, WARNING, Review
from readiness_harness.settings.secrets import scrub

MARKS = {OK: "✅ ok", WARNING: "⚠️ warning", BREACH: "❌ breach", NOT_MEASURED: "⏸ not measured"}


@dataclass(frozen=True)
class Written:
    markdown: Path
    json: Path
    plots: list[Path]


def _write(path: Path, text: str) -> Path:
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(scrub(text), encoding="utf-8")
    staging.replace(path)
    return path


def markdown(review: Review, plot_files: dict[str, str]) -> str:
    data = review.as_dict()
    title = "Daily checks" if review.kind == "daily" else "Weekly review"
    lines = [
        f"# {title}, {review.generated_at:%Y-%m-%d}",
        "",
        f"**{MARKS[review.status]}**: "
        + (
            f"{len(review.breaches)} breach(es): {', '.join(c.name for c in review.breaches)}"
            if review.breaches
            else "no breach"
        ),
        "",
        f"Window: {data['window']['start']} to {data['window']['end']} (UTC). "
        f"Generated {data['generated_at']}.",
        "",
    ]
    if review.sources:
        lines += ["Sources:", ""]
        lines += [f"- {name}: {value}" for name, value in review.sources.items()]
        lines.append("")
    lines += ["| | check | result |", "| --- | --- | --- |"]
    for check in review.checks:
        summary = check.summary.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {MARKS[check.status]} | {check.name} | {summary} |")
    lines.append("")
    if review.warnings:
        lines += ["## Warnings", ""] + [f"- {warning}" for warning in review.warnings] + [""]
    for check in review.checks:
        lines += [f"## {check.name.capitalize()}", "", f"{MARKS[check.status]}: {check.summary}", ""]
        for name in sorted(check.plots):
            lines += [f"![{name}]({plot_files[name]})", ""]
        if check.details:
            lines += [
                "<details><summary>evidence</summary>",
                "",
                "```json",
                json.dumps(check.details, indent=2, default=str)[:20000],
                "```",
                "",
                "</details>",
                "",
            ]
    return "\n".join(lines)


def write_review(review: Review, folder: Path) -> Written:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{review.kind}_{review.generated_at:%Y-%m-%d}"
    plot_files: dict[str, str] = {}
    plots = []
    for check in review.checks:
        for name, svg in check.plots.items():
            file_name = f"{stem}_{name}"
            plots.append(_write(folder / file_name, svg))
            plot_files[name] = file_name
    document = review.as_dict() | {"plots": {name: str(folder / file) for name, file in plot_files.items()}}
    json_file = _write(folder / f"{stem}.json", json.dumps(document, indent=2, default=str) + "\n")
    md_file = _write(folder / f"{stem}.md", markdown(review, plot_files))
    _write(folder / f"latest_{review.kind}.json", json.dumps(document, indent=2, default=str) + "\n")
    return Written(md_file, json_file, plots)
