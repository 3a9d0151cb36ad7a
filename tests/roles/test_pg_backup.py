"""playbooks/backup.yml (role pg_backup) against a real PostgreSQL 18."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from roles_kit import GoodBackup, Stack, backups_in

from readiness_harness.drill.playbooks import PlaybookRun, run_playbook

pytestmark = pytest.mark.slow

DIRECTORY_TASKS = ("Create the backup directory, readable by its owner only",)
RETENTION_TASKS = (
    "List the backups in the backup directory",
    "Remove backups beyond the retention count, with their checksums",
)


@pytest.fixture(scope="module")
def first_run(first_backup: tuple[PlaybookRun, GoodBackup]) -> PlaybookRun:
    return first_backup[0]


@pytest.fixture(scope="module")
def backup_dir(first_backup: tuple[PlaybookRun, GoodBackup]) -> Path:
    return first_backup[1].path.parent


@pytest.fixture(scope="module")
def second_run(
    stack: Stack, backup_dir: Path, first_run: PlaybookRun, tmp_path_factory: pytest.TempPathFactory
) -> PlaybookRun:
    """The same backup again, this time with PG_BIN_DIR unset and PostgreSQL 15's pg_dump
    (/usr/bin) ahead of the server's own on PATH: the role must find the matching one."""
    path = os.pathsep.join(["/usr/bin", "/bin", str(stack.bin_dir)])
    env = stack.env(backup_dir, tmp_path_factory.mktemp("reports"), PG_BIN_DIR="", PATH=path)
    run = run_playbook("backup", env)
    assert run.ok, run.stdout
    return run


def test_backup_is_a_custom_format_dump_with_checksum_0600_in_a_0700_dir(
    first_run: PlaybookRun, good_backup: GoodBackup, backup_dir: Path, local_host: Any
) -> None:
    backup = good_backup.path
    assert backup in backups_in(backup_dir)
    checksum = backup.with_name(backup.name + ".sha256")

    directory = local_host.file(str(backup_dir))
    assert directory.is_directory
    assert directory.mode == 0o700
    for path in (backup, checksum):
        file = local_host.file(str(path))
        assert file.exists
        assert file.is_file
        assert file.mode == 0o600
        assert file.size > 0
    assert backup.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom-format magic

    computed = local_host.check_output("sha256sum %s", str(backup)).split()[0]
    assert checksum.read_text() == f"{computed}  {backup.name}\n"
    verified = local_host.run("cd %s && sha256sum --check %s", str(backup_dir), checksum.name)
    assert verified.rc == 0, verified.stderr
    assert f"Backup written: {backup}" in "\n".join(first_run.messages)


def test_second_run_changes_nothing_in_the_directory_and_retention_steps(
    second_run: PlaybookRun, backup_dir: Path
) -> None:
    for name in DIRECTORY_TASKS + RETENTION_TASKS:
        results = second_run.task(name)
        assert results, f"task {name!r} did not run"
        assert not any(result.changed for result in results), name
    assert len(backups_in(backup_dir)) == 2


def test_a_tagged_rerun_of_directory_and_retention_reports_no_changes(
    stack: Stack, backup_dir: Path, second_run: PlaybookRun, tmp_path: Path
) -> None:
    run = run_playbook(
        "backup",
        stack.env(backup_dir, tmp_path / "reports"),
        tags=["pg_backup_dir", "pg_backup_retention"],
    )
    assert run.ok, run.stdout
    assert run.recap()["changed"] == 0, run.stdout
    ran = {result.task for result in run.tasks if result.status != "skipped"}
    assert set(DIRECTORY_TASKS) | {RETENTION_TASKS[0]} <= ran
    assert "Dump the database in custom format with the server's own pg_dump" not in ran


def test_pg_dump_of_the_servers_version_is_found_on_path(second_run: PlaybookRun) -> None:
    dumps = second_run.task("Dump the database in custom format with the server's own pg_dump")
    assert [result.status for result in dumps] == ["changed"]


def test_retention_keeps_the_newest_backups(stack: Stack, tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir(mode=0o700)
    old = [f"backup_2020010{day}_030000.pgc" for day in range(1, 6)]
    for name in old:
        (backup_dir / name).write_bytes(b"PGDMP old")
        (backup_dir / f"{name}.sha256").write_text(f"{'0' * 64}  {name}\n")
    unrelated = backup_dir / "notes.txt"
    unrelated.write_text("kept")

    run = run_playbook(
        "backup", stack.env(backup_dir, tmp_path / "reports"), extravars={"pg_backup_retention": 3}
    )

    assert run.ok, run.stdout
    kept = [path.name for path in backups_in(backup_dir)]
    assert len(kept) == 3
    assert kept[:2] == old[-2:]  # the two newest old ones, then today's
    assert kept[2] > old[-1]
    for name in old[:-2]:
        assert not (backup_dir / name).exists()
        assert not (backup_dir / f"{name}.sha256").exists()
    for name in kept:
        assert (backup_dir / f"{name}.sha256").exists()
    assert unrelated.exists()


def test_backup_refuses_a_pg_dump_of_another_major_version(stack: Stack, tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"
    env = stack.env(backup_dir, tmp_path / "reports", PG_BIN_DIR="/usr/lib/postgresql/15/bin")
    if not Path("/usr/lib/postgresql/15/bin/pg_dump").exists():
        env["PG_BIN_DIR"] = ""
        env["PATH"] = "/usr/bin:/bin"

    run = run_playbook("backup", env)

    assert not run.ok
    assert "No pg_dump of PostgreSQL 18 found" in run.stdout
    assert "postgresql-client-18" in run.stdout
    assert not backup_dir.exists() or backups_in(backup_dir) == []
