"""The fleet room without a fleet: inventories read through ansible-inventory, templated
host variables rendered as Ansible renders them, clear errors for what a line needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from readiness_harness.fleet.inventory import InventoryError, read_inventory
from readiness_harness.fleet.parametrize import per_host

REPO = Path(__file__).resolve().parents[2]


def test_the_example_fleet_gives_every_database_host_its_own_url_and_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in (
        ("PG_PASSWORD_PAYMENTS_EU", "eu/secret"),
        ("PG_PASSWORD_PAYMENTS_US", "us"),
        ("PG_PASSWORD_CATALOG", "cat"),
        ("REDIS_PASSWORD", "r"),
    ):
        monkeypatch.setenv(name, value)
    fleet = read_inventory(REPO / "inventory" / "production.example.yml")
    urls = [host.database_url for host in fleet.database_hosts]
    assert len(set(urls)) == len(urls) == 3
    assert "backup:eu%2Fsecret@db-payments-eu" in str(urls[0])  # from the environment, URL-encoded
    assert len({host.backup_path for host in fleet.database_hosts}) == 3
    assert all(
        host.redis_url == "redis://:r@redis1.cardpack.internal:6379/0" for host in fleet.database_hosts
    )
    assert not any(host.local for host in fleet.database_hosts)
    assert fleet.database_hosts[0].testinfra_spec.startswith("ansible://db-payments-eu.cardpack.internal?")


def test_the_local_inventory_is_one_local_host_with_the_environments_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/db")
    monkeypatch.setenv("BACKUP_PATH", "/srv/backups/")
    fleet = read_inventory(REPO / "inventory" / "local.yml")
    (host,) = fleet.database_hosts
    assert (host.name, host.local, host.database_url, host.backup_path) == (
        "localhost",
        True,
        "postgresql://u@127.0.0.1:5432/db",
        "/srv/backups/",
    )
    assert host.testinfra_spec == "local://"


@pytest.mark.parametrize(
    ("inventory", "error"),
    [
        ({"all": {"hosts": {"a": {}}}}, "has no host in the group database_primary"),
        (
            {"all": {"children": {"database_primary": {"hosts": {"db1": {"readiness_backup_path": "/b"}}}}}},
            "db1 lack readiness_database_url or readiness_backup_path",
        ),
    ],
)
def test_an_inventory_without_what_the_lines_need_is_refused(
    tmp_path: Path, inventory: dict[str, object], error: str
) -> None:
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(inventory))
    with pytest.raises(InventoryError, match=error):
        read_inventory(path)
    with pytest.raises(InventoryError, match="no inventory at"):
        read_inventory(tmp_path / "nope.yml")


def test_drill_and_backup_lines_run_per_host_but_the_workflow_line_does_not() -> None:
    assert per_host({"restore_drill", "data_verification"})
    assert per_host({"monitoring", "backup_retention"})
    assert not per_host({"restore_drill", "weekly_auto_drill"})
    assert not per_host({"gateway", "retry_safe"})
