"""The documentation lines read the deployment's repository and the API it serves.

Each run gives `readiness check` a copy of this repository's README, docs and alert
rules (--repository, --alert-rules), against the reference service as a target: as they
are, every line passes; broken one way per line, each fails saying what is missing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from check_kit import CheckRun, RunCheck

from readiness_harness.evidence import docs
from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.target.target import Target

LINES = "api_documentation or runbooks or troubleshooting_guide or onboarding_guide or architecture_diagram"


def _repository(folder: Path) -> Path:
    repository = folder / "repository"
    repository.mkdir()
    shutil.copy(PROJECT_ROOT / "README.md", repository / "README.md")
    shutil.copytree(PROJECT_ROOT / "docs", repository / "docs")
    # where the rules' relative runbook links expect them (../../docs/runbooks)
    shutil.copytree(
        PROJECT_ROOT / "reference_service" / "monitoring", repository / "reference_service" / "monitoring"
    )
    return repository


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer holds {old!r}: update the test"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _openapi(
    readiness_target: Target, folder: Path, drop: str | None = None, version: str | None = None
) -> Path:
    document = httpx.get(f"{readiness_target.url}/openapi.json", verify=readiness_target.verify).json()
    if drop:
        del document["paths"][drop]
    if version:
        document["info"]["version"] = version
    path = folder / "openapi.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def runs(
    module_check: RunCheck, tmp_path_factory: pytest.TempPathFactory, readiness_target: Target
) -> dict[str, CheckRun]:
    out = {}
    good = _repository(tmp_path_factory.mktemp("good"))
    out["good"] = module_check(
        LINES, "--repository", str(good), "--alert-rules", str(good / "reference_service" / "monitoring")
    )

    folder = tmp_path_factory.mktemp("first")
    broken = _repository(folder)
    (broken / "docs" / "runbooks" / "redis-connection-errors.md").unlink()
    _replace(broken / "README.md", "- [Troubleshooting](docs/troubleshooting.md)", "- Troubleshooting")
    onboarding = broken / "docs" / "onboarding.md"
    onboarding.write_text("# Onboarding\n\nAsk someone.\n")
    architecture = broken / "docs" / "architecture.md"
    _replace(architecture, 'redis[("Redis primary")]', 'redis[("key-value store")]')
    _replace(architecture, 'replica[("Redis replica")]', 'replica[("its copy")]')
    out["first"] = module_check(
        LINES,
        "--repository",
        str(broken),
        "--alert-rules",
        str(broken / "reference_service" / "monitoring"),
        "--openapi",
        str(_openapi(readiness_target, folder, drop="/metrics")),
    )

    folder = tmp_path_factory.mktemp("second")
    broken = _repository(folder)
    (broken / "docs" / "runbooks" / "redis-connection-errors.md").write_text(
        "# RedisConnectionErrors\n\nCall someone.\n"
    )
    out["second"] = module_check(
        "api_documentation or runbooks",
        "--repository",
        str(broken),
        "--alert-rules",
        str(broken / "reference_service" / "monitoring"),
        "--openapi",
        str(_openapi(readiness_target, folder, version="0.0.0-old")),
    )
    return out


def _fails(run: CheckRun, tag: str, says: str) -> None:
    assert run.state(tag) == "failed", f"{tag} is {run.state(tag)}: {run.message(tag)}\n{run.output}"
    assert says in run.message(tag), run.message(tag)


def test_the_repositorys_own_documents_pass_every_documentation_line(runs: dict[str, CheckRun]) -> None:
    run = runs["good"]
    for tag in LINES.split(" or "):
        assert run.state(tag) == "verified", f"{tag}: {run.message(tag)}\n{run.output}"
    lines = run.evidence("runbooks")["runbook_lines"]
    assert lines["WebhookFailureRateHigh"] == "Payment webhook failures > 1%"
    assert "Redis primary" in run.evidence("architecture_diagram")["diagram"]["labels"]


def test_an_alert_whose_runbook_page_is_missing_fails_the_runbooks_line(runs: dict[str, CheckRun]) -> None:
    _fails(runs["first"], "runbooks", "RedisConnectionErrors: ../../docs/runbooks/redis-connection-errors.md")


def test_a_runbook_page_that_names_no_checklist_line_fails_the_runbooks_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(runs["second"], "runbooks", "name no line of the checklist")
    assert "RedisConnectionErrors (redis-connection-errors.md)" in runs["second"].message("runbooks")


def test_a_readme_without_a_troubleshooting_link_fails_that_line(runs: dict[str, CheckRun]) -> None:
    _fails(runs["first"], "troubleshooting_guide", "links to no troubleshooting guide")


def test_an_onboarding_guide_without_sections_fails_that_line(runs: dict[str, CheckRun]) -> None:
    _fails(runs["first"], "onboarding_guide", "onboarding.md has 1 section(s)")


def test_a_diagram_that_leaves_out_a_component_fails_the_architecture_line(runs: dict[str, CheckRun]) -> None:
    _fails(runs["first"], "architecture_diagram", "does not name Redis")


def test_an_api_document_without_a_contract_route_fails_the_api_documentation_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(runs["first"], "api_documentation", "lacks 1 route(s) of the contract: GET /metrics")


def test_an_api_document_of_another_version_fails_the_api_documentation_line(
    runs: dict[str, CheckRun],
) -> None:
    _fails(runs["second"], "api_documentation", "describes version 0.0.0-old")


def test_a_runbook_link_to_a_heading_that_does_not_exist_leads_nowhere(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Alerts\n\n## Webhook failure rate high\n\nCheck /status.\n")
    assert docs.runbook_page("README.md#webhook-failure-rate-high", tmp_path).problem is None
    missing = docs.runbook_page("README.md#database-down", tmp_path)
    assert missing.problem == "README.md has no heading for #database-down"
    outside = docs.runbook_page("../secrets.md", tmp_path)
    assert outside.problem is not None
    github = docs.runbook_page(
        "https://github.com/acme/cardpack/blob/main/README.md#webhook-failure-rate-high", tmp_path
    )
    assert github.problem is None and github.path == (tmp_path / "README.md").resolve()
    assert docs.runbook_page("https://wiki.example.com/runbooks/x", tmp_path).problem is not None


def test_a_runbook_anchor_reads_only_its_own_section(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "# Alerts\n\n## First\n\nRestore drill failures\n\n### Detail\n\nmore\n\n## Second\n\nnothing\n"
    )
    first = docs.runbook_page("README.md#first", tmp_path).text()
    assert "Restore drill failures" in first and "more" in first and "nothing" not in first
    assert "Restore drill failures" not in docs.runbook_page("README.md#second", tmp_path).text()


def test_mermaid_labels_come_from_nodes_groups_participants_and_c4_elements() -> None:
    flowchart = (
        'flowchart LR\n  a["Stripe (cards)"] --> b(Service)\n'
        "  subgraph data [Data stores]\n  c[(PostgreSQL)]\n  end\n"
    )
    assert docs.diagram_labels(flowchart) == {"Stripe (cards)", "Service", "Data stores", "PostgreSQL"}
    assert docs.diagram_labels("sequenceDiagram\n  participant g as PayPal\n  actor Operator\n") == {
        "PayPal",
        "Operator",
    }
    assert docs.diagram_labels('C4Context\n  SystemDb(pg, "PostgreSQL", "data")\n') == {"PostgreSQL"}
