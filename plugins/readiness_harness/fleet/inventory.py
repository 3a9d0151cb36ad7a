"""The hosts of an Ansible inventory, as the backup and drill lines need them.

`ansible-inventory --list` gives the groups and each host's variables; values that are
templates (`{{ lookup('ansible.builtin.env', 'DATABASE_URL') }}`, as inventory/local.yml
has) are rendered with Ansible's own templating, so the harness sees what the playbooks
will see. Every host of `database_primary` is a PostgreSQL cluster of its own
(`readiness_database_url`, `readiness_backup_path`, `readiness_pg_bin_dir`); hosts of
`cache` carry `readiness_redis_url`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATABASE_GROUP = "database_primary"
CACHE_GROUP = "cache"
LOCAL_HOST = "localhost"


class InventoryError(RuntimeError):
    """The inventory cannot be read or lacks what the lines need; the message says what."""


@dataclass(frozen=True)
class FleetHost:
    """One host of the fleet and how the harness reaches it."""

    name: str
    database_url: str | None = None
    redis_url: str | None = None
    backup_path: str | None = None
    pg_bin_dir: str | None = None
    local: bool = True
    """True when the host is this machine (ansible_connection local)."""
    inventory: Path | None = None
    variables: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def testinfra_spec(self) -> str:
        """What `testinfra.get_host` needs to run checks on this host."""
        if self.local or self.inventory is None:
            return "local://"
        return f"ansible://{self.name}?ansible_inventory={self.inventory}"

    @property
    def address(self) -> str:
        return str(self.variables.get("ansible_host") or self.name)


@dataclass(frozen=True)
class Fleet:
    """The database hosts (one PostgreSQL cluster each) and the cache hosts."""

    database_hosts: tuple[FleetHost, ...]
    cache_hosts: tuple[FleetHost, ...] = ()
    inventory: Path | None = None

    @property
    def names(self) -> list[str]:
        return [host.name for host in self.database_hosts]

    def host(self, name: str) -> FleetHost:
        for host in self.database_hosts:
            if host.name == name:
                return host
        raise InventoryError(
            f"{name} is not a host of {DATABASE_GROUP} in {self.inventory or 'the local fleet'}"
        )

    @property
    def redis_url(self) -> str | None:
        """The cache the database hosts' drills check: the first cache host's URL."""
        for host in self.cache_hosts:
            if host.redis_url:
                return host.redis_url
        return None


def ensure_ansible_on_path() -> None:
    """Put this venv's bin first on PATH: testinfra's ansible backend runs
    `ansible-inventory` from PATH, and a broken shim there must not win."""
    venv_bin = str(Path(sys.executable).parent)
    entries = os.environ.get("PATH", "").split(os.pathsep)
    if not entries or entries[0] != venv_bin:
        os.environ["PATH"] = os.pathsep.join([venv_bin, *(entry for entry in entries if entry != venv_bin)])


def local_fleet(
    database_url: str | None, redis_url: str | None, backup_path: str | None, pg_bin_dir: str | None
) -> Fleet:
    """The embedded default (or DATABASE_URL/REDIS_URL): one local host."""
    host = FleetHost(LOCAL_HOST, database_url, redis_url, backup_path, pg_bin_dir, local=True)
    return Fleet((host,), (host,))


def _members(groups: Mapping[str, Any], group: str) -> list[str]:
    """Hosts of `group` and of its child groups, in inventory order, once each."""
    entry = groups.get(group) or {}
    names = list(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        names += _members(groups, child)
    return list(dict.fromkeys(names))


_PLUGINS_LOADED: list[bool] = []


def _load_plugins_once(init: Any) -> None:
    """Ansible's plugin loader may be set up once per process (it warns on a second time)."""
    if not _PLUGINS_LOADED:
        init()
        _PLUGINS_LOADED.append(True)


def _render(value: Any, variables: Mapping[str, Any]) -> Any:
    if not isinstance(value, str) or "{{" not in value:
        return value
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar, trust_as_template

    _load_plugins_once(init_plugin_loader)
    return Templar(loader=DataLoader(), variables=dict(variables)).template(trust_as_template(value))


def _host(name: str, variables: Mapping[str, Any], inventory: Path) -> FleetHost:
    context = {
        **variables,
        "inventory_hostname": name,
        "inventory_dir": str(inventory.parent),
        "inventory_file": str(inventory),
        "ansible_playbook_python": sys.executable,
    }

    def setting(key: str) -> str | None:
        rendered = _render(variables.get(key), context)
        return str(rendered) if rendered not in (None, "") else None

    return FleetHost(
        name=name,
        database_url=setting("readiness_database_url"),
        redis_url=setting("readiness_redis_url"),
        backup_path=setting("readiness_backup_path"),
        pg_bin_dir=setting("readiness_pg_bin_dir"),
        local=variables.get("ansible_connection") == "local",
        inventory=inventory,
        variables=variables,
    )


def read_inventory(path: Path, env: Mapping[str, str] | None = None) -> Fleet:
    """The fleet of the inventory at `path`, through `ansible-inventory --list`."""
    from readiness_harness.drill.playbooks import playbook_env

    inventory = path.resolve()
    if not inventory.exists():
        raise InventoryError(f"no inventory at {inventory} (--inventory / READINESS_INVENTORY)")
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
        capture_output=True,
        text=True,
        env=playbook_env(dict(env or {})),
        check=False,
        timeout=120,
    )
    if listed.returncode != 0:
        raise InventoryError(f"ansible-inventory cannot read {inventory}: {listed.stderr.strip()[-1500:]}")
    try:
        groups: dict[str, Any] = json.loads(listed.stdout)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"ansible-inventory gave no JSON for {inventory}: {exc}") from exc
    hostvars: dict[str, Any] = (groups.get("_meta") or {}).get("hostvars") or {}
    databases = _members(groups, DATABASE_GROUP)
    if not databases:
        raise InventoryError(
            f"{inventory} has no host in the group {DATABASE_GROUP}: the backup and drill lines run on "
            "every host of that group (each a PostgreSQL cluster of its own)"
        )
    database_hosts = tuple(_host(name, hostvars.get(name) or {}, inventory) for name in databases)
    missing = [host.name for host in database_hosts if not host.database_url or not host.backup_path]
    if missing:
        raise InventoryError(
            f"{inventory}: {', '.join(missing)} lack readiness_database_url or readiness_backup_path; "
            "every database host needs its own (host variables)"
        )
    cache_hosts = tuple(
        _host(name, hostvars.get(name) or {}, inventory) for name in _members(groups, CACHE_GROUP)
    )
    return Fleet(database_hosts, cache_hosts, inventory)
