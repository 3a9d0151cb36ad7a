"""One example per database host for the backup and restore-drill lines.

Registered by the plugin. Scenarios of the restore-drill feature (but the weekly workflow
line, which reads a file) and the backup-retention line get a `fleet_host` parameter, one
value per host of `database_primary` (the single local host without an inventory). The
recorder then sees one example per host, and a line is verified only when it is on every
host.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness_harness.fleet.inventory import Fleet, FleetHost, InventoryError, read_inventory

PER_HOST_TAGS = frozenset({"restore_drill", "backup_retention"})
"""Feature or scenario tags whose lines run once per database host."""
NOT_PER_HOST_TAGS = frozenset({"weekly_auto_drill"})
"""Lines of those features that are about a file of this repository, not a host."""
FLEET_HOST = "fleet_host"
FLEET_KEY = pytest.StashKey["Fleet | None"]()
"""The inventory's fleet, or None for the single local host (set by register_fleet)."""


def per_host(tags: set[str]) -> bool:
    return bool(tags & PER_HOST_TAGS) and not tags & NOT_PER_HOST_TAGS


class FleetParametrizer:
    """A pytest plugin object: parametrizes the per-host lines over the fleet's hosts."""

    def __init__(self, fleet: Fleet | None) -> None:
        self.fleet = fleet

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        tags = {marker.name for marker in metafunc.definition.iter_markers()}
        if self.fleet is None or not per_host(tags):
            return
        if FLEET_HOST not in metafunc.fixturenames:
            metafunc.fixturenames.append(FLEET_HOST)
        metafunc.parametrize(
            FLEET_HOST, self.fleet.names, ids=[f"host={name}" for name in self.fleet.names], indirect=True
        )


def register_fleet(config: pytest.Config, inventory: Path | None) -> None:
    """Read the inventory (a usage error when it cannot be read) and register the
    parametrizer: the inventory's database hosts, else the single local host."""
    fleet: Fleet | None = None
    if inventory is not None:
        try:
            fleet = read_inventory(inventory)
        except InventoryError as exc:
            raise pytest.UsageError(f"--inventory: {exc}") from exc
    config.stash[FLEET_KEY] = fleet
    config.pluginmanager.register(
        FleetParametrizer(fleet or Fleet((FleetHost("localhost"),))), "readiness-fleet"
    )
