"""Fixtures of the evidence lines (loaded by the plugin as a pytest plugin): the target's
workflows (read and linted once per run), its repository, its published API document.

Each asks the target for the capability first, so a deployment that was not given the
option ends the line as not measured, naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.evidence.actionlint import ActionlintUnavailable, CheckedWorkflows, check_workflows
from readiness_harness.evidence.workflows import WorkflowError
from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.target import Target


@pytest.fixture(scope="session")
def ci_workflows(readiness_target: Target) -> CheckedWorkflows:
    """The target's CI workflows with actionlint's findings (a broken file fails the lines
    that read it, with the reason)."""
    path: Path = readiness_target.require("workflows")
    try:
        return check_workflows(path)
    except WorkflowError as exc:
        raise AssertionError(f"the target's workflows cannot be read: {exc}") from exc
    except ActionlintUnavailable as exc:
        raise AssertionError(f"the workflows cannot be checked: {exc}") from exc


@pytest.fixture(scope="session")
def target_repository(readiness_target: Target) -> Path:
    repository: Path = readiness_target.require("repository")
    return repository


@pytest.fixture(scope="session")
def published_openapi(
    readiness_target: Target, readiness_settings: HarnessSettings, webhook_client: WebhookClient
) -> dict[str, Any]:
    """The OpenAPI document: --openapi FILE when given, else what the target serves at
    /openapi.json (not measured when it serves none)."""
    given = readiness_settings.path("openapi")
    if given is not None:
        try:
            document = json.loads(given.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AssertionError(f"{given}: not a readable OpenAPI JSON document: {exc}") from exc
    else:
        status, text = webhook_client.get_text("/openapi.json")
        if status == 404:
            not_measured(
                f"{readiness_target.shown_url} does not serve /openapi.json",
                option="--openapi FILE (its API document)",
            )
        if status != 200:
            raise AssertionError(f"GET /openapi.json answered {status}: {text[:200]}")
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise AssertionError(f"/openapi.json is not JSON: {text[:200]!r}") from exc
    if not isinstance(document, dict) or "paths" not in document:
        raise AssertionError("the API document has no `paths`: it is not an OpenAPI document")
    return document
