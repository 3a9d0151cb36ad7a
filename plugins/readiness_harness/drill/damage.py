"""Damaged copies of a host's newest backup, made on the host itself.

Each damage is what goes wrong with real backups: bytes flipped in the middle, a dump cut
short, an empty file, a file deleted; the "re-checksummed" variants also rewrite the
checksum file to match the damaged file (a dump that died mid-write and was then
checksummed, as a full disk does), so only pg_restore or the data check can catch them.

Files are handled through testinfra's host (local, or ssh for a remote host), whose
`run(command, *args)` quotes every argument: no path or name ever reaches a shell unquoted.
The copies live in a folder of mode 0700 (`mktemp -d`), removed by `remove_folder`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from readiness_harness.fleet.inventory import FleetHost, ensure_ansible_on_path

DAMAGES = (
    "corrupted",
    "truncated",
    "empty",
    "missing",
    "corrupted and re-checksummed",
    "truncated and re-checksummed",
)
TRUNCATE_TO = 0.8
"""A truncated copy keeps 80% of the file: a dump that died late."""


class DamageError(RuntimeError):
    """A command on the host failed while preparing a damaged copy."""


@cache
def _testinfra_host(spec: str) -> Any:
    import testinfra

    ensure_ansible_on_path()
    return testinfra.get_host(spec)


def host_of(host: FleetHost) -> Any:
    """testinfra's host object for `host` (one per connection spec)."""
    return _testinfra_host(host.testinfra_spec)


def _run(host: FleetHost, command: str, *args: str) -> str:
    result = host_of(host).run(command, *args)
    if result.rc != 0:
        raise DamageError(
            f"{host.name}: `{result.command}` failed (exit {result.rc}): {result.stderr.strip()}"
        )
    return str(result.stdout)


def make_private_folder(host: FleetHost, prefix: str) -> str:
    """A new folder of mode 0700 on the host, in its temporary directory."""
    return _run(host, "mktemp -d -t %s", prefix + "XXXXXXXX").strip()


def remove_folder(host: FleetHost, folder: str) -> None:
    if "readiness-" not in folder:  # only ever what make_private_folder made
        raise DamageError(f"refusing to remove {folder!r}: not a folder the harness made")
    _run(host, "rm -rf -- %s", folder)


def damage_copy(host: FleetHost, backup: str, folder: str, damage: str) -> str:
    """Copy `backup` with its checksum and manifest into `folder`, damage the copy, and
    return the copy's path (which no longer exists for "missing")."""
    name = backup.rsplit("/", 1)[-1]
    copy = f"{folder}/{name}"
    for suffix in ("", ".sha256", ".manifest.json"):
        _run(host, "cp -p -- %s %s", backup + suffix, copy + suffix)
    size = int(_run(host, "stat -c %%s -- %s", copy).strip())
    if damage.startswith("corrupted"):
        _run(
            host,
            "dd if=/dev/urandom of=%s bs=64 count=1 seek=%s oflag=seek_bytes conv=notrunc",
            copy,
            str(size // 2),
        )
    elif damage.startswith("truncated"):
        _run(host, "truncate -s %s -- %s", str(int(size * TRUNCATE_TO)), copy)
    elif damage == "empty":
        _run(host, "truncate -s 0 -- %s", copy)
    elif damage == "missing":
        _run(host, "rm -f -- %s", copy)
    else:
        raise ValueError(f"unknown damage {damage!r}")
    if damage.endswith("re-checksummed"):
        _run(host, "cd -- %s && sha256sum -- %s > %s", folder, name, name + ".sha256")
    return copy
