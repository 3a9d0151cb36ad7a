"""The namespace fleet for the whole module: two database hosts with different data and
one cache host, each with its own sshd, reached over real ssh (see fleet_kit)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fleet_kit import FleetUnavailable, NamespaceFleet, namespace_fleet, why_unavailable

from readiness_harness.fleet.inventory import ensure_ansible_on_path


@pytest.fixture(scope="session")
def fleet() -> Iterator[NamespaceFleet]:
    ensure_ansible_on_path()  # testinfra's ansible backend runs ansible-inventory from PATH
    reason = why_unavailable()
    if reason:
        pytest.skip(f"no namespace fleet on this machine: {reason}")
    try:
        with namespace_fleet({"db1": 40, "db2": 25}) as built:
            yield built
    except FleetUnavailable as exc:
        pytest.skip(f"no namespace fleet on this machine: {exc}")
