"""Fixtures of the restore-drill and backup lines (loaded by the plugin as a pytest plugin).

The drill runs on every database host of the target's fleet (`--inventory`), else
against the target's PostgreSQL and Redis: the embedded default's own servers, or the
ones `--database-url` / `--redis-url` name; without them the lines are not measured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from readiness_harness.drill.damage import host_of
from readiness_harness.drill.demo_data import seed_if_empty
from readiness_harness.drill.harness import DrillHarness
from readiness_harness.fleet.inventory import LOCAL_HOST, FleetHost
from readiness_harness.fleet.parametrize import FLEET_KEY
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.embedded import pg_bin_dir_for_wheel
from readiness_harness.target.stack import EmbeddedDeployment
from readiness_harness.target.target import Target


@pytest.fixture(scope="session")
def drill_fleet(
    request: pytest.FixtureRequest, readiness_settings: HarnessSettings
) -> Iterator[DrillHarness]:
    """Backup and restore-drill playbooks on every database host: the inventory's
    (--inventory), else the target's PostgreSQL and Redis from this machine."""
    fleet = request.config.stash[FLEET_KEY]
    if fleet is not None:
        harness = DrillHarness.for_fleet(fleet, readiness_settings.reports_dir)
    else:
        readiness_target: Target = request.getfixturevalue("readiness_target")
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
        # The target's backup folder when given (BACKUP_PATH / --backup-path); the embedded
        # default keeps its backups in a private temporary folder removed at the end.
        harness = DrillHarness.local(
            database_url,
            redis_url,
            pg_bin_dir,
            readiness_settings.reports_dir,
            readiness_settings.backup_path,
        )
    yield harness
    harness.cleanup()


@pytest.fixture
def fleet_host(request: pytest.FixtureRequest) -> FleetHost:
    """The database host this example is about (one example per host, see fleet.parametrize)."""
    name = getattr(request, "param", LOCAL_HOST)
    fleet = request.config.stash[FLEET_KEY]
    if fleet is None:
        harness: DrillHarness = request.getfixturevalue("drill_fleet")
        return harness.fleet.host(name)
    return fleet.host(name)


@pytest.fixture
def restore_drill(drill_fleet: DrillHarness) -> DrillHarness:
    """The drill harness of the run (one for every host of the fleet)."""
    return drill_fleet


@pytest.fixture
def infra_host(fleet_host: FleetHost) -> Any:
    """testinfra's host for this example's database host: local, or over ssh through the
    inventory (its own `host` fixture is parametrized at collection, which BDD steps cannot use)."""
    return host_of(fleet_host)


@pytest.fixture(scope="session")
def drill_workflow(readiness_target: Target) -> object:
    """The target's scheduled restore-drill workflow file (the repository's own on the
    embedded default, which is the reference deployment's)."""
    return readiness_target.require("drill_workflow")
