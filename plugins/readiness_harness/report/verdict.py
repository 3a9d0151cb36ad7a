"""From checklist lines to the release verdict: states, waivers, warnings, readiness.json.

Every example of a line ends in one state (see checklist.outcomes); a waiver can accept a
failed or unmeasured example: the one it names, or, when it names only the line, every
example of that line. A waiver never reaches another line or another example.
A line's state, from its examples:
  not applicable  every example is about something the target does not use
  failed          an applicable example failed (or its waiver expired)
  verified        every applicable example passed (attested: a human item, signed off)
  waived          every applicable example passed or is accepted by a live waiver
  not measured    otherwise: an applicable example could not be measured
The release is ready only when every line is verified, attested, waived or not applicable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from readiness_harness.checklist.outcomes import FAILED, NOT_APPLICABLE, NOT_MEASURED, VERIFIED
from readiness_harness.checklist.recorder import ChecklistLine, Example
from readiness_harness.report.signoff import Attestations, Waiver
from readiness_harness.settings.secrets import scrub

ATTESTED = "attested"
WAIVED = "waived"
ACCEPTABLE = (VERIFIED, ATTESTED, WAIVED, NOT_APPLICABLE)
STATES = (VERIFIED, ATTESTED, WAIVED, NOT_APPLICABLE, FAILED, NOT_MEASURED)
ATTESTED_TAG = "attested"
WARN_DAYS = 14
"""A waiver or attestation that expires within this many days is reported as a warning."""

NEXT_STEPS = (
    "Deploy to production",
    "Monitor initial traffic",
    "Verify webhook endpoints",
    "Schedule weekly restore drills",
)
"""The checklist's own next steps, as the user wrote them."""


class WaiverMismatch(ValueError):
    """A waiver that names no line or example, or several: it must name exactly one."""


@dataclass
class JudgedExample:
    example: Example
    state: str
    waiver: Waiver | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.example.to_dict()
        data["raw_state"] = data.pop("state")
        data["state"] = self.state
        if self.waiver is not None:
            data["waiver"] = _waiver_dict(self.waiver)
        return data


@dataclass
class JudgedLine:
    line: ChecklistLine
    state: str
    examples: list[JudgedExample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)

    @property
    def attestation(self) -> dict[str, Any] | None:
        found = self.line.evidence.get("attestation") if len(self.line.examples) == 1 else None
        return found if isinstance(found, dict) else None

    def to_dict(self) -> dict[str, Any]:
        data = self.line.to_dict()
        data["raw_state"] = data.pop("state")
        data["state"] = self.state
        data["notes"] = self.notes
        data["examples"] = [example.to_dict() for example in self.examples]
        data["by_host"] = _by_host(self.examples)
        if self.waivers:
            data["waivers"] = [_waiver_dict(waiver) for waiver in self.waivers]
        if self.attestation is not None:
            data["attestation"] = self.attestation
        return data


def _waiver_dict(waiver: Waiver) -> dict[str, Any]:
    return {
        "line": waiver.line,
        "example": waiver.example,
        "reason": waiver.reason,
        "owner": waiver.owner,
        "expires": waiver.expires.isoformat(),
        **({"target": waiver.target} if waiver.target else {}),
    }


def _by_host(examples: list[JudgedExample]) -> dict[str, str] | None:
    """A fleet line's state per host (its examples carry a `fleet_host` parameter), else None."""
    hosts: dict[str, list[str]] = {}
    for judged in examples:
        host = judged.example.params.get("fleet_host")
        if host is None:
            return None
        hosts.setdefault(host, []).append(judged.state)
    return {host: _fold(states) for host, states in hosts.items()} or None


def _matches_line(waiver: Waiver, line: ChecklistLine) -> bool:
    return waiver.line == line.scenario or waiver.line in line.tags


def check_waivers(lines: list[ChecklistLine], waivers: list[Waiver]) -> None:
    """Raise WaiverMismatch unless every waiver names exactly one line (and, when it names
    an example, exactly one example of that line)."""
    for waiver in waivers:
        matched = [line for line in lines if _matches_line(waiver, line)]
        if len(matched) != 1:
            raise WaiverMismatch(
                f"the waiver for {waiver.names} matches {len(matched)} checklist lines; "
                "name exactly one line by its scenario title or its own tag"
            )
        if waiver.example is not None:
            examples = [example for example in matched[0].examples if example.matches(waiver.example)]
            if len(examples) != 1:
                labels = "; ".join(example.label for example in matched[0].examples) or "none"
                raise WaiverMismatch(
                    f"the waiver for {waiver.names} matches {len(examples)} examples of that line; "
                    f"name exactly one of: {labels}"
                )


def _fold(states: list[str]) -> str:
    applicable = [state for state in states if state != NOT_APPLICABLE]
    if states and not applicable:
        return NOT_APPLICABLE
    if FAILED in applicable:
        return FAILED
    if applicable and all(state == VERIFIED for state in applicable):
        return VERIFIED
    if applicable and all(state in (VERIFIED, WAIVED) for state in applicable):
        return WAIVED
    return NOT_MEASURED


def judge(
    lines: list[ChecklistLine],
    waivers: list[Waiver],
    today: date,
) -> list[JudgedLine]:
    check_waivers(lines, waivers)
    judged_lines = []
    for line in lines:
        mine = [waiver for waiver in waivers if _matches_line(waiver, line)]
        line_waiver = next((waiver for waiver in mine if waiver.example is None), None)
        notes: list[str] = []
        judged_examples = []
        used: list[Waiver] = []
        for example in line.examples:
            waiver = next(
                (w for w in mine if w.example is not None and example.matches(w.example)), line_waiver
            )
            state = example.state
            if waiver is not None and state in waiver.accepts:
                where = f" [{example.label}]" if example.label and waiver.example is not None else ""
                if waiver.expired(today):
                    notes.append(
                        f"waiver{where} by {waiver.owner} expired on {waiver.expires.isoformat()} "
                        f"(was: {state}); fix the line or renew the waiver"
                    )
                    state = FAILED
                else:
                    notes.append(
                        f"{state}{where}, waived by {waiver.owner} until {waiver.expires.isoformat()}: "
                        f"{waiver.reason}"
                    )
                    state = WAIVED
                if waiver not in used:
                    used.append(waiver)
            judged_examples.append(JudgedExample(example, state, waiver if state == WAIVED else None))
        state = _fold([judged.state for judged in judged_examples])
        if state == VERIFIED and ATTESTED_TAG in line.tags:
            state = ATTESTED
        judged_lines.append(JudgedLine(line, state, judged_examples, notes, used))
    return judged_lines


def warnings(
    judged: list[JudgedLine], waivers: list[Waiver], attestations: Attestations | None, today: date
) -> list[str]:
    """What a release manager should act on soon, though nothing fails because of it."""
    out = []
    for line in judged:
        for waiver in waivers:
            if not _matches_line(waiver, line.line) or waiver in line.waivers:
                continue
            what = "the example passes" if waiver.example is not None else "the line passes"
            if waiver.expired(today):
                out.append(
                    f"the waiver for {waiver.names} by {waiver.owner} expired on "
                    f"{waiver.expires.isoformat()}, but {what}: remove it from the waivers file"
                )
            else:
                out.append(f"the waiver for {waiver.names} is not needed: {what}; remove it")
    for waiver in waivers:
        left = waiver.days_left(today)
        if 0 <= left <= WARN_DAYS:
            out.append(
                f"the waiver for {waiver.names} by {waiver.owner} expires on "
                f"{waiver.expires.isoformat()} (in {left} days): fix the line or renew it"
            )
    if attestations is not None:
        for item in attestations.items.values():
            expires = item.expires(attestations.max_age_days)
            left = (expires - today).days
            if 0 <= left <= WARN_DAYS:
                out.append(
                    f"the sign-off of {item.item!r} by {item.who} expires on {expires.isoformat()} "
                    f"(in {left} days): renew it in the attestations file"
                )
    return out


@dataclass
class Verdict:
    target: str
    lines: list[JudgedLine]
    partial: bool = False
    warnings: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    """What the run was given and started (gateways, sandbox, options), for the record."""
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def ready(self) -> bool:
        return bool(self.lines) and not self.partial and all(line.state in ACCEPTABLE for line in self.lines)

    @property
    def counts(self) -> dict[str, int]:
        return {state: sum(1 for line in self.lines if line.state == state) for state in STATES}

    def blocking(self) -> list[JudgedLine]:
        return [line for line in self.lines if line.state not in ACCEPTABLE]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "generated_at": self.generated_at,
            "ready": self.ready,
            "partial": self.partial,
            "counts": self.counts,
            "warnings": self.warnings,
            "run": self.run,
            "lines": [line.to_dict() for line in self.lines],
        }


def write(verdict: Verdict, json_path: Path) -> Path:
    """readiness.json and, beside it, readiness-summary.md (for CI job summaries), each
    written whole (temp file, then rename) and scrubbed of any secret value."""
    from readiness_harness.report.summary import markdown

    json_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(json_path, scrub(json.dumps(verdict.to_dict(), indent=2, default=str)))
    summary = json_path.with_name("readiness-summary.md")
    _write_atomically(summary, scrub(markdown(verdict)))
    return summary


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read(json_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
    return data


def banner(data: dict[str, Any]) -> list[str]:
    """The closing lines of `readiness check`, from readiness.json."""
    counts = data["counts"]
    warning_lines = [f"  ! {warning}" for warning in data.get("warnings", [])]
    if data["ready"]:
        return [
            "=" * 72,
            "🎉 PRODUCTION READY!",
            "✅ All systems operational",
            f"     {counts['verified']} checklist lines verified against {data['target']}",
            "✅ Checklist criteria met",
            f"     {counts['attested']} human items attested, {counts['waived']} lines waived with owner "
            f"and expiry, {counts['not applicable']} not applicable to this target",
            "✅ Ready for launch",
            *(["", "Warnings:", *warning_lines] if warning_lines else []),
            "",
            "🚀 NEXT STEPS:",
            *(f"   {number}. {step}" for number, step in enumerate(NEXT_STEPS, start=1)),
            "=" * 72,
        ]
    blocking = [line for line in data["lines"] if line["state"] not in ACCEPTABLE]
    out = ["=" * 72, f"NOT READY: {len(blocking)} of {len(data['lines'])} checklist lines block the release."]
    for line in blocking:
        out.append(f"  - {line['state']}: {line['scenario']} ({line['feature_file']}:{line['line_number']})")
        for note in (line["notes"] + line["messages"])[:4]:
            out.append(f"      {note[:300]}")
    if warning_lines:
        out += ["Warnings:", *warning_lines]
    out += [
        "What to do: fix each failed line (its message says what broke) and rerun; a line",
        "that is not measured needs the option its message names (see README: a target guide),",
        "or a waiver in waivers.yml with reason, owner and expiry; human items need attestations.yml.",
        "=" * 72,
    ]
    return out
