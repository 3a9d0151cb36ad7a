"""Steps for the Documentation lines: the published API document, runbooks, guides and the
architecture diagram, read from the target (its /openapi.json) and its repository."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from readiness_harness.checklist.source import checklist_items
from readiness_harness.evidence import docs
from readiness_harness.evidence.alert_rules import AlertRule, AlertRulesError, load_alert_rules
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target

GATEWAY_COMPONENTS = {"stripe": "stripe", "paypal": "paypal"}
"""Diagram components that are payment gateways: required only when the target uses them."""

# --- the API document


@when("the target's published OpenAPI document is read", target_fixture="openapi")
def _(published_openapi: dict[str, Any], record_evidence: Callable[[str, Any], None]) -> dict[str, Any]:
    info = published_openapi.get("info") or {}
    record_evidence(
        "openapi",
        {
            "title": info.get("title"),
            "version": info.get("version"),
            "paths": sorted(published_openapi["paths"]),
        },
    )
    return published_openapi


@then("it documents every route of the contract:")
def _(openapi: dict[str, Any], datatable: list[list[str]]) -> None:
    header, *rows = datatable
    missing = []
    for row in rows:
        route = dict(zip(header, row, strict=True))
        operations = openapi["paths"].get(route["path"]) or {}
        if route["method"].lower() not in operations:
            missing.append(f"{route['method']} {route['path']}")
    assert not missing, (
        f"the API document lacks {len(missing)} route(s) of the contract: {', '.join(missing)}"
    )


@then("its version is the one the target reports in /status")
def _(openapi: dict[str, Any], payment_gateway: GatewaySimulator) -> None:
    documented = str((openapi.get("info") or {}).get("version") or "")
    running = str(payment_gateway.client.get("/status").body.get("version") or "")
    assert documented and running, f"no version to compare: document {documented!r}, /status {running!r}"
    assert documented == running, (
        f"the API document describes version {documented}, the target runs {running}: publish the document "
        "of the release"
    )


# --- runbooks


@given("the target's alert rules and its repository", target_fixture="runbook_rules")
def _(readiness_target: Target, request: pytest.FixtureRequest) -> tuple[list[AlertRule], Path]:
    source = readiness_target.require("alert_rules")
    target_repository: Path = request.getfixturevalue("target_repository")
    try:
        rules = load_alert_rules(source if isinstance(source, Path) else str(source))
    except AlertRulesError as exc:
        raise AssertionError(str(exc)) from exc
    assert rules, f"no alerting rule in {source}"
    return rules, target_repository


@then("every alert rule has a runbook_url")
def _(runbook_rules: tuple[list[AlertRule], Path]) -> None:
    rules, _ = runbook_rules
    missing = [rule.alert for rule in rules if not rule.runbook_url]
    assert not missing, f"{len(missing)} alert(s) without a runbook_url annotation: {', '.join(missing)}"


@then("every runbook_url leads to a page of the repository, to a heading that exists")
def _(runbook_rules: tuple[list[AlertRule], Path], record_evidence: Callable[[str, Any], None]) -> None:
    rules, repository = runbook_rules
    pages = {rule.alert: docs.runbook_page(rule.runbook_url, repository, rule.folder) for rule in rules}
    record_evidence("runbooks", {alert: page.url for alert, page in pages.items()})
    broken = [f"{alert}: {page.url} ({page.problem})" for alert, page in pages.items() if page.problem]
    assert not broken, f"{len(broken)} runbook link(s) lead nowhere: " + "; ".join(broken[:5])


@then("every runbook page names a line of the checklist")
def _(runbook_rules: tuple[list[AlertRule], Path], record_evidence: Callable[[str, Any], None]) -> None:
    rules, repository = runbook_rules
    lines = {docs.normalized(item.text): item.text for item in checklist_items()}
    named: dict[str, str] = {}
    silent = []
    for rule in rules:
        page = docs.runbook_page(rule.runbook_url, repository, rule.folder)
        assert page.path is not None, f"{rule.alert}: {page.problem}"
        text = docs.normalized(page.text())
        found = next((original for line, original in lines.items() if line in text), None)
        if found is None:
            silent.append(f"{rule.alert} ({page.path.name})")
        else:
            named[rule.alert] = found
    record_evidence("runbook_lines", named)
    assert not silent, (
        f"{len(silent)} runbook page(s) name no line of the checklist (quote the line the alert watches, "
        f'e.g. "Payment webhook failures > 1%"): {", ".join(silent)}'
    )


# --- guides and the architecture diagram


@given("the target's repository", target_fixture="repository")
def _(target_repository: Path) -> Path:
    assert docs.find_readme(target_repository) is not None, f"{target_repository} has no README"
    return target_repository


GUIDES = {
    "troubleshooting guide": ("troubleshoot",),
    "onboarding guide": ("onboarding", "getting started", "getting-started"),
    "architecture document": ("architecture",),
}


def _guide(repository: Path, guide: str, record_evidence: Callable[[str, Any], None]) -> Path:
    found = docs.linked_document(repository, GUIDES[guide])
    assert found is not None, (
        f"the README of {repository} links to no {guide} in the repository (a link whose text or path "
        f"says {' or '.join(repr(word) for word in GUIDES[guide])}, to a file that exists)"
    )
    link, path = found
    record_evidence(
        guide.replace(" ", "_"), {"link": link.text, "file": str(path.relative_to(repository.resolve()))}
    )
    return path


@then(
    parsers.re(
        r"its README links to an? (?P<guide>troubleshooting guide|onboarding guide) "
        r"of at least (?P<count>\d+) sections"
    )
)
def _(repository: Path, guide: str, count: str, record_evidence: Callable[[str, Any], None]) -> None:
    path = _guide(repository, guide, record_evidence)
    sections = docs.headings(path.read_text(encoding="utf-8", errors="replace"))
    assert len(sections) >= int(count), (
        f"{path.name} has {len(sections)} section(s) ({', '.join(sections)}); a {guide} of at least {count} "
        "is expected"
    )


@then("its README links to an architecture document with a Mermaid diagram", target_fixture="diagram_labels")
def _(repository: Path, record_evidence: Callable[[str, Any], None]) -> set[str]:
    path = _guide(repository, "architecture document", record_evidence)
    blocks = docs.mermaid_blocks(path.read_text(encoding="utf-8", errors="replace"))
    assert blocks, f"{path.name} holds no ```mermaid diagram"
    labels: set[str] = set()
    for block in blocks:
        labels |= docs.diagram_labels(block)
    record_evidence(
        "diagram", {"kinds": [docs.diagram_kind(block) for block in blocks], "labels": sorted(labels)}
    )
    assert labels, f"the Mermaid diagram(s) of {path.name} name no node"
    return labels


@then("the diagram names every component of the deployment:")
def _(diagram_labels: set[str], readiness_target: Target, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    shown = " | ".join(label.lower() for label in diagram_labels)
    missing = []
    for row in rows:
        entry = dict(zip(header, row, strict=True))
        component = entry["component"].strip()
        gateway = GATEWAY_COMPONENTS.get(component.lower())
        if gateway is not None and not readiness_target.uses(gateway):
            continue
        names = [component, *(name.strip() for name in entry.get("or", "").split(",") if name.strip())]
        if not any(name.lower() in shown for name in names):
            missing.append(component)
    assert not missing, (
        f"the architecture diagram does not name {', '.join(missing)} "
        f"(its nodes: {', '.join(sorted(diagram_labels))})"
    )
