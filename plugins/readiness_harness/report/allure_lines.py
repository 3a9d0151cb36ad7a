"""Allure results in the checklist's own terms: one test per checklist line, in its state.

allure-pytest-bdd writes one result per example (a row of a scenario outline). Once the
run is judged, `rewrite_as_lines` folds them into one result per checklist line, so the
report counts the checklist's lines; each line's examples become its steps (with their
own steps and attachments inside). The readiness state shows through Allure's own means:

  verified        status passed
  attested        status passed, message "attested: who, when, link", a link to the evidence
  waived          status skipped, message "waived: reason (owner, until)"
  not applicable  status skipped, message "not applicable: why"
  not measured    status unknown, message "not measured: why and the option to give"
  failed          status failed, message: the assertion's own first line

plus a `readiness state` label and categories named after the states. A partial run
(`-m`) keeps the lines it did not run, as unknown "not run in this partial run", so the
report's ring never shows a green 100% for a fraction of the checklist.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from readiness_harness.checklist.outcomes import FAILED, NOT_APPLICABLE, NOT_MEASURED, VERIFIED
from readiness_harness.report.verdict import ATTESTED, WAIVED, JudgedLine
from readiness_harness.settings.secrets import scrub

STATE_LABEL = "readiness state"
STATUS_OF = {
    VERIFIED: "passed",
    ATTESTED: "passed",
    WAIVED: "skipped",
    NOT_APPLICABLE: "skipped",
    NOT_MEASURED: "unknown",
    FAILED: "failed",
}
NOT_RUN = "not run in this partial run"
CATEGORIES = [
    {"name": "Failed: a checklist rule does not hold", "matchedStatuses": ["failed", "broken"]},
    {
        "name": "Not measured: the run was not given what the line needs",
        "matchedStatuses": ["unknown"],
        "messageRegex": "^not measured.*",
    },
    {"name": "Not run in this partial run", "matchedStatuses": ["unknown"], "messageRegex": "^not run.*"},
    {
        "name": "Waived: accepted for now, with owner and expiry",
        "matchedStatuses": ["skipped"],
        "messageRegex": "^waived.*",
    },
    {
        "name": "Not applicable to this target",
        "matchedStatuses": ["skipped"],
        "messageRegex": "^not applicable.*",
    },
    {
        "name": "Attested: a human item signed off",
        "matchedStatuses": ["passed"],
        "messageRegex": "^attested.*",
    },
]


def _example_results(results_dir: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every per-example result, by (feature file, scenario template)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in results_dir.glob("*-result.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        story = next(
            (label["value"] for label in document.get("labels", []) if label["name"] == "story"), None
        )
        if story is None or STATE_LABEL in {label["name"] for label in document.get("labels", [])}:
            continue
        feature_file = str(document.get("fullName", "")).split(":", 1)[0].rsplit("/", 1)[-1]
        document["__path"] = path
        document["__params"] = {str(p["name"]): str(p["value"]) for p in document.get("parameters", [])}
        found.setdefault((feature_file, story), []).append(document)
    return found


def _find(candidates: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any] | None:
    """The example's result: the one whose parameters are all the example's (Allure lists
    the row's values; the example may carry more, such as a fleet host)."""
    for document in candidates:
        if all(params.get(name) == value for name, value in document["__params"].items()):
            candidates.remove(document)
            return document
    return None


def _message(judged: JudgedLine) -> str:
    line = judged.line
    if judged.state == ATTESTED and judged.attestation is not None:
        found = judged.attestation
        return f"attested: signed off by {found.get('who')} on {found.get('when')} ({found.get('link')})"
    if judged.state == WAIVED:
        return "waived: " + "; ".join(judged.notes)
    if judged.state == VERIFIED:
        return f"verified: {line.summary}"
    if not line.selected:
        return NOT_RUN
    parts = judged.notes + line.messages
    return f"{judged.state}: " + ("; ".join(parts) if parts else line.summary)


def _label(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


def _line_result(judged: JudgedLine, examples: list[dict[str, Any] | None]) -> dict[str, Any]:
    line = judged.line
    state = judged.state if line.selected else NOT_MEASURED
    status = STATUS_OF.get(state, "unknown")
    message = scrub(_message(judged))
    steps = []
    for judged_example, found in zip(judged.examples, examples, strict=True):
        name = judged_example.example.label or "the line"
        example_status = STATUS_OF.get(judged_example.state, "unknown")
        step: dict[str, Any] = {
            "name": f"{name}: {judged_example.state}",
            "status": example_status,
            "statusDetails": {"message": scrub(judged_example.example.message)}
            if judged_example.example.message
            else {},
            "steps": (found or {}).get("steps", []),
            "attachments": (found or {}).get("attachments", []),
            "parameters": [
                {"name": key, "value": value} for key, value in judged_example.example.params.items()
            ],
        }
        if found is not None:
            step["start"], step["stop"] = found.get("start"), found.get("stop")
        steps.append(step)
    starts = [r["start"] for r in examples if r is not None and r.get("start")]
    stops = [r["stop"] for r in examples if r is not None and r.get("stop")]
    severity = next((tag.removeprefix("severity_") for tag in line.tags if tag.startswith("severity_")), None)
    identity = hashlib.md5(f"{line.feature_file}:{line.scenario}".encode(), usedforsecurity=False).hexdigest()
    labels = [
        _label("epic", line.area),
        _label("story", line.scenario),
        _label(STATE_LABEL, "not run" if not line.selected else judged.state),
        *(_label("tag", tag) for tag in line.tags),
    ]
    if severity:
        labels.append(_label("severity", severity))
    links = []
    if judged.attestation is not None and str(judged.attestation.get("link", "")).startswith(
        ("http://", "https://")
    ):
        links.append({"name": "sign-off evidence", "url": judged.attestation["link"], "type": "link"})
    document: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "historyId": identity,
        "testCaseId": identity,
        "name": line.scenario,
        "fullName": f"{line.feature_file}:{line.line_number}",
        "status": status,
        "statusDetails": {"message": message},
        "labels": labels,
        "links": links,
        "steps": steps,
        "parameters": [{"name": "examples", "value": line.summary}],
    }
    if starts and stops:
        document["start"], document["stop"] = min(starts), max(stops)
    return document


def rewrite_as_lines(results_dir: Path, judged: list[JudgedLine]) -> int:
    """Replace the per-example results in `results_dir` by one result per checklist line;
    return how many line results were written."""
    if not results_dir.is_dir():
        return 0
    by_example = _example_results(results_dir)
    used: set[Path] = set()
    written = 0
    for line in judged:
        candidates = by_example.get((line.line.feature_file, line.line.scenario), [])
        examples = []
        for judged_example in line.examples:
            result = _find(candidates, judged_example.example.params)
            examples.append(result)
            if result is not None:
                used.add(result["__path"])
        document = _line_result(line, [_strip(result) for result in examples])
        (results_dir / f"{document['uuid']}-result.json").write_text(json.dumps(document), encoding="utf-8")
        written += 1
    for path in used:
        path.unlink(missing_ok=True)
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2), encoding="utf-8")
    return written


def _strip(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {key: value for key, value in result.items() if not key.startswith("__")}
