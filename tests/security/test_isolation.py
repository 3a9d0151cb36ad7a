"""Which binary folders the harness trusts when it runs as root (issue 10, finding 3)."""

from __future__ import annotations

import os
from pathlib import Path

from readiness_harness.target.isolation import (
    process_options,
    trusted_install,
    unsafe_parent,
    untrusted_entry,
)

ME = frozenset({os.geteuid()})


def _tree(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "postgres").write_text("#!/bin/sh\n")
    (root / "bin" / "postgres").chmod(0o755)
    (root / "lib").mkdir()
    (root / "lib" / "libpq.so").write_text("")
    (root / "lib" / "libpq.so.5").symlink_to("libpq.so")
    for path in (root, root / "bin", root / "lib"):
        path.chmod(0o755)
    return root


def test_a_tree_only_its_owner_can_write_is_trusted(tmp_path: Path) -> None:
    assert untrusted_entry(_tree(tmp_path / "install"), ME) is None


def test_an_entry_writable_by_group_or_others_is_not(tmp_path: Path) -> None:
    root = _tree(tmp_path / "install")
    (root / "bin" / "postgres").chmod(0o775)
    assert "writable by group or others" in str(untrusted_entry(root, ME))


def test_another_owner_is_not(tmp_path: Path) -> None:
    root = _tree(tmp_path / "install")
    assert "owned by uid" in str(untrusted_entry(root, frozenset({os.geteuid() + 1})))


def test_a_symlink_out_of_the_tree_is_not(tmp_path: Path) -> None:
    root = _tree(tmp_path / "install")
    (tmp_path / "elsewhere").write_text("")
    (root / "bin" / "pg_ctl").symlink_to(tmp_path / "elsewhere")
    assert "points outside" in str(untrusted_entry(root, ME))


def test_a_missing_folder_or_a_file_is_not(tmp_path: Path) -> None:
    assert "does not exist" in str(untrusted_entry(tmp_path / "nothing", ME))
    (tmp_path / "file").write_text("")
    assert "not a folder" in str(untrusted_entry(tmp_path / "file", ME))


def test_a_parent_others_can_write_without_the_sticky_bit_is_unsafe(tmp_path: Path) -> None:
    open_parent = tmp_path / "open"
    open_parent.mkdir()
    open_parent.chmod(0o777)
    owners = frozenset({*ME, 0})
    assert "writable by others" in str(unsafe_parent(open_parent / "install", owners))
    open_parent.chmod(0o1777)  # like /tmp: others cannot rename what is not theirs
    assert unsafe_parent(open_parent / "install", owners) is None


def test_without_root_the_wheel_is_used_as_it_is(tmp_path: Path) -> None:
    root = _tree(tmp_path / "install")
    assert trusted_install(root, ("bin", "lib"), "readiness-test", None) == root


def test_servers_get_a_private_umask_and_a_small_environment() -> None:
    options = process_options(None)
    assert options["umask"] == 0o077
    assert set(options["env"]) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "TZ"}
    assert "user" not in options
