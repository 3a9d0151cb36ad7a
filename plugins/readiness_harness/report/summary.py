"""readiness-summary.md: the verdict as a Markdown table (the CI job summary).

Everything that comes from the checklist or from a target (scenario titles such as
`A captured <gateway> payment ...`, failure messages) is escaped, so Markdown renders it
as written instead of eating `<gateway>` as an HTML tag or `_x_` as emphasis. The notes
column says who signed off an attested line and when, and who waived a line until when.
"""

from __future__ import annotations

import re

from readiness_harness.checklist.outcomes import FAILED, NOT_APPLICABLE, NOT_MEASURED, VERIFIED
from readiness_harness.report.verdict import ATTESTED, WAIVED, JudgedLine, Verdict

ICONS = {VERIFIED: "✅", ATTESTED: "🖊️", WAIVED: "⚠️", NOT_APPLICABLE: "⚪", FAILED: "❌", NOT_MEASURED: "⬜"}
NOTES_LIMIT = 500

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def escape(text: str) -> str:
    """`text` as literal Markdown table content: HTML-significant characters as entities,
    Markdown punctuation backslash-escaped, line breaks as spaces."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.split())
    return _SPECIAL.sub(r"\\\1", text)


def notes(judged: JudgedLine) -> str:
    parts = []
    attestation = judged.attestation
    if judged.state == ATTESTED and attestation is not None:
        parts.append(
            f"signed off by {attestation.get('who')} on {attestation.get('when')} ({attestation.get('link')})"
        )
    parts += judged.notes
    parts += judged.line.messages[:2]
    text = "; ".join(parts)
    return escape(text[:NOTES_LIMIT] + ("..." if len(text) > NOTES_LIMIT else ""))


def markdown(verdict: Verdict) -> str:
    if verdict.partial:
        head = "partial run (not a verdict)"
    else:
        head = "PRODUCTION READY!" if verdict.ready else "NOT READY"
    counts = ", ".join(f"{count} {state}" for state, count in verdict.counts.items() if count)
    out = [f"# Readiness: {head}", "", f"Target: `{verdict.target}`: {counts}", ""]
    if verdict.warnings:
        out += ["**Warnings**", "", *(f"- {escape(warning)}" for warning in verdict.warnings), ""]
    area = None
    for judged in verdict.lines:
        if judged.line.area != area:
            area = judged.line.area
            out += [
                "",
                f"## {escape(area)}",
                "",
                "| | line | examples | state | notes |",
                "|---|---|---|---|---|",
            ]
        icon = ICONS.get(judged.state, "")
        line = judged.line
        cells = [icon, escape(line.scenario), escape(line.summary), judged.state, notes(judged)]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
