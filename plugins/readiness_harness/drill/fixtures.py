"""Fixtures of the restore-drill and backup lines (loaded by the plugin as a pytest plugin).

The drill runs against the target's PostgreSQL and Redis: the embedded default's own
servers, or the ones `--database-url` / `--redis-url` name; without them the lines are
not measured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from readiness_harness.drill.demo_data import seed_if_empty
from readiness_harness.drill.harness import DrillHarness
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.embedded import pg_bin_dir_for_wheel
from readiness_harness.target.stack import EmbeddedDeployment
from readiness_harness.target.target import Target


@pytest.fixture(scope="session")
def restore_drill(readiness_settings: HarnessSettings, readiness_target: Target) -> Iterator[DrillHarness]:
    """Backup and restore-drill playbooks against the target's PostgreSQL and Redis."""
    database_url: str = readiness_target.require("database")
    redis_url: str = readiness_target.require("redis")
    deployment = readiness_target.servers
    # Client binaries of the server's major version: the embedded server's own, else
    # PG_BIN_DIR, else the wheel's PostgreSQL 18 (the roles refuse a mismatch, saying so).
    if isinstance(deployment, EmbeddedDeployment) and deployment.postgres is not None:
        pg_bin_dir = str(deployment.postgres.bin_dir)
    else:
        given = readiness_settings.path("pg_bin_dir")
        pg_bin_dir = str(given or os.environ.get("PG_BIN_DIR") or pg_bin_dir_for_wheel())
    if readiness_target.embedded:
        seed_if_empty(database_url)
    harness = DrillHarness(database_url, redis_url, pg_bin_dir, readiness_settings.reports_dir)
    yield harness
    harness.cleanup()


@pytest.fixture(scope="session")
def drill_workflow(readiness_target: Target) -> object:
    """The target's scheduled restore-drill workflow file (the repository's own on the
    embedded default, which is the reference deployment's)."""
    return readiness_target.require("drill_workflow")
