"""Fixtures that run checklist lines through `readiness check` (see check_kit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from check_kit import RunCheck, check_runner

from readiness_harness.target.target import Target


@pytest.fixture
def run_check(tmp_path: Path, readiness_target: Target) -> RunCheck:
    return check_runner(tmp_path, readiness_target)


@pytest.fixture(scope="module")
def module_check(tmp_path_factory: pytest.TempPathFactory, readiness_target: Target) -> RunCheck:
    """The same, for runs a module's tests share (one run judges several lines at once)."""
    return check_runner(tmp_path_factory.mktemp("checks"), readiness_target)
