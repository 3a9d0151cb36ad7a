"""From checklist lines to the release verdict: states, readiness.json, Markdown, banner.

Every line ends in exactly one state:
  verified      its scenario(s) ran and passed
  attested      a human item whose attestation scenario passed (who and when attached)
  waived        failed or not measured, accepted by a waiver that has not expired
  failed        a scenario failed, or its waiver expired
  not measured  no example ran (skipped, deselected, not applicable to this target)
The release is ready only when every line is verified, attested or waived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from readiness_harness.checklist.recorder import FAILED, NOT_MEASURED, VERIFIED, ChecklistLine, line_to_dict
from readiness_harness.report.signoff import Waiver

ATTESTED = "attested"
WAIVED = "waived"
ACCEPTABLE = (VERIFIED, ATTESTED, WAIVED)
ATTESTED_TAG = "attested"

NEXT_STEPS = (
    "Tag the release and deploy it through the usual pipeline.",
    "Watch the webhook failure, latency and dependency alerts for the first hour.",
    "Keep the weekly restore drill green; renew waivers and attestations before they expire.",
)


class WaiverMismatch(ValueError):
    """A waiver that names no line, or several: it must name exactly one."""


@dataclass
class JudgedLine:
    line: ChecklistLine
    state: str
    notes: list[str] = field(default_factory=list)
    waiver: Waiver | None = None

    def to_dict(self) -> dict[str, Any]:
        data = line_to_dict(self.line)
        data["raw_state"] = data.pop("state")
        data["state"] = self.state
        data["notes"] = self.notes
        if self.waiver is not None:
            data["waiver"] = {
                "reason": self.waiver.reason,
                "owner": self.waiver.owner,
                "expires": self.waiver.expires.isoformat(),
            }
        return data


def _matches(waiver: Waiver, line: ChecklistLine) -> bool:
    return waiver.line == line.scenario or waiver.line in line.tags


def judge(lines: list[ChecklistLine], waivers: list[Waiver], today: date) -> list[JudgedLine]:
    for waiver in waivers:
        matched = [line for line in lines if _matches(waiver, line)]
        if len(matched) != 1:
            raise WaiverMismatch(
                f"waiver for {waiver.line!r} matches {len(matched)} checklist lines; "
                "name exactly one line by its scenario title or its own tag"
            )
    judged = []
    for line in lines:
        found = next((w for w in waivers if _matches(w, line)), None)
        raw = line.state
        if raw == VERIFIED:
            state = ATTESTED if ATTESTED_TAG in line.tags else VERIFIED
            judged.append(JudgedLine(line, state))
        elif found is None:
            judged.append(JudgedLine(line, raw))
        elif found.expired(today):
            judged.append(
                JudgedLine(
                    line,
                    FAILED,
                    [
                        f"waiver by {waiver.owner} expired on {waiver.expires.isoformat()} "
                        f"(was: {raw}); fix the line or renew the waiver"
                    ],
                    waiver,
                )
            )
        else:
            judged.append(
                JudgedLine(
                    line,
                    WAIVED,
                    [f"{raw}, waived by {waiver.owner} until {waiver.expires.isoformat()}: {waiver.reason}"],
                    waiver,
                )
            )
    return judged


@dataclass
class Verdict:
    target: str
    lines: list[JudgedLine]
    partial: bool = False
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def ready(self) -> bool:
        return bool(self.lines) and all(line.state in ACCEPTABLE for line in self.lines)

    @property
    def counts(self) -> dict[str, int]:
        states = (VERIFIED, ATTESTED, WAIVED, FAILED, NOT_MEASURED)
        return {state: sum(1 for line in self.lines if line.state == state) for state in states}

    def blocking(self) -> list[JudgedLine]:
        return [line for line in self.lines if line.state not in ACCEPTABLE]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "generated_at": self.generated_at,
            "ready": self.ready,
            "partial": self.partial,
            "counts": self.counts,
            "lines": [line.to_dict() for line in self.lines],
        }


def write(verdict: Verdict, json_path: Path) -> Path:
    """readiness.json and, beside it, readiness-summary.md (for CI job summaries)."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(verdict.to_dict(), indent=2, default=str), encoding="utf-8")
    tmp.replace(json_path)
    summary = json_path.with_name("readiness-summary.md")
    summary.write_text(markdown(verdict), encoding="utf-8")
    return summary


def read(json_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
    return data


ICONS = {VERIFIED: "✅", ATTESTED: "🖊️", WAIVED: "⚠️", FAILED: "❌", NOT_MEASURED: "⬜"}


def markdown(verdict: Verdict) -> str:
    head = "PRODUCTION READY!" if verdict.ready else "NOT READY"
    counts = ", ".join(f"{count} {state}" for state, count in verdict.counts.items() if count)
    out = [f"# Readiness: {head}", "", f"Target: `{verdict.target}` - {counts}", ""]
    area = None
    for judged in verdict.lines:
        if judged.line.area != area:
            area = judged.line.area
            out += ["", f"## {area}", "", "| | line | state | notes |", "|---|---|---|---|"]
        notes = "; ".join(judged.notes + judged.line.messages[:1]).replace("|", "\\|")
        out.append(
            f"| {ICONS.get(judged.state, '')} | {judged.line.scenario} | {judged.state} | {notes[:300]} |"
        )
    return "\n".join(out) + "\n"


def banner(data: dict[str, Any]) -> list[str]:
    """The closing lines of `readiness check`, from readiness.json."""
    counts = data["counts"]
    if data["ready"]:
        return [
            "=" * 72,
            "PRODUCTION READY!",
            f"  ✓ {counts['verified']} checklist lines verified against {data['target']}",
            f"  ✓ {counts['attested']} human items attested (who and when in readiness.json)",
            f"  ✓ {counts['waived']} lines waived with owner and expiry, none failing or unmeasured",
            "Next steps:",
            *(f"  {number}. {step}" for number, step in enumerate(NEXT_STEPS, start=1)),
            "=" * 72,
        ]
    blocking = [line for line in data["lines"] if line["state"] not in ACCEPTABLE]
    out = ["=" * 72, f"NOT READY: {len(blocking)} of {len(data['lines'])} checklist lines block the release."]
    for line in blocking:
        out.append(f"  - {line['state']}: {line['scenario']} ({line['feature_file']}:{line['line_number']})")
        for note in (line["notes"] + line["messages"])[:3]:
            out.append(f"      {note[:300]}")
    out += [
        "What to do: fix each failed line (its message says what broke) and rerun; a line",
        "that cannot be measured here needs a run against a target where it can, or a waiver",
        "in waivers.yml with reason, owner and expiry; human items need attestations.yml.",
        "=" * 72,
    ]
    return out
