"""playbooks/backup.yml (role pg_backup) against a real PostgreSQL 18."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from roles_kit import GoodBackup, Stack, backups_in, table_counts

from readiness_harness.drill.playbooks import PlaybookRun, run_playbook

pytestmark = pytest.mark.slow

DIRECTORY_TASKS = ("Create the backup directory, readable by its owner only",)
RETENTION_TASKS = (
    "List the backups in the backup directory",
    "Remove backups beyond the retention count, with their checksums and manifests",
)
DUMP = "Dump the database in custom format from one exported snapshot, with its row counts"


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
    assert DUMP not in ran


def test_pg_dump_of_the_servers_version_is_found_on_path(second_run: PlaybookRun) -> None:
    dumps = second_run.task(DUMP)
    assert [result.status for result in dumps] == ["changed"]


def test_retention_keeps_the_newest_backups(stack: Stack, tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir(mode=0o700)
    old = [f"backup_2020010{day}_030000.pgc" for day in range(1, 6)]
    for name in old:
        (backup_dir / name).write_bytes(b"PGDMP old")
        (backup_dir / f"{name}.sha256").write_text(f"{'0' * 64}  {name}\n")
        (backup_dir / f"{name}.manifest.json").write_text("{}")
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
        assert not (backup_dir / f"{name}.manifest.json").exists()
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


def test_the_manifest_records_exactly_the_rows_the_archive_restores(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    manifest = good_backup.manifest
    assert manifest["archive"] == good_backup.path.name
    assert manifest["sha256"] == good_backup.checksum_file.read_text().split()[0]
    assert manifest["snapshot"]  # pg_dump --snapshot of the exported snapshot
    assert manifest["server"]["system_identifier"].isdigit()
    with stack.connect() as conn:
        conn.execute("CREATE DATABASE manifest_check")
    try:
        subprocess.run(
            [
                str(stack.bin_dir / "pg_restore"),
                f"--dbname={stack.servers.postgres.admin_url('manifest_check')}",
                str(good_backup.path),
            ],
            check=True,
            capture_output=True,
        )
        assert table_counts(stack, "manifest_check") == manifest["table_counts"]
    finally:
        with stack.connect() as conn:
            conn.execute("DROP DATABASE manifest_check WITH (FORCE)")
    assert good_backup.manifest_file.stat().st_mode & 0o777 == 0o600


def test_a_backup_path_with_a_trailing_slash_works(stack: Stack, tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"
    run = run_playbook(
        "backup", {**stack.env(backup_dir, tmp_path / "reports"), "BACKUP_PATH": f"{backup_dir}//"}
    )
    assert run.ok, run.stdout
    (backup,) = backups_in(backup_dir)
    assert f"Backup written: {backup} (" in "\n".join(run.messages)


def test_a_failed_dump_leaves_no_archive_manifest_checksum_or_partial_file(
    stack: Stack, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    run = run_playbook(
        "backup",
        stack.env(backup_dir, tmp_path / "reports"),
        extravars={"pg_backup_dump_extra_args": ["--no-such-pg-dump-option"]},
    )
    assert not run.ok
    assert "pg_dump exited 1" in run.stdout and "--no-such-pg-dump-option" in run.stdout
    assert "Nothing was kept" in run.stdout
    assert list(backup_dir.iterdir()) == []


def test_extra_arguments_as_one_string_are_refused(stack: Stack, tmp_path: Path) -> None:
    run = run_playbook(
        "backup",
        stack.env(tmp_path / "backups", tmp_path / "reports"),
        extravars={"pg_backup_dump_extra_args": "--compress=0; touch /tmp/never"},
    )
    assert not run.ok
    assert "pg_backup_dump_extra_args a list of" in run.stdout
    assert not (tmp_path / "backups").exists()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@/readiness?host=127.0.0.1,%24(touch%20{canary})",
        "postgresql://postgres@/readiness?host=127.0.0.1%3Btouch%20{canary}",
        "postgresql://%24(touch%20{canary})@127.0.0.1:{port}/readiness",
        "postgresql://postgres@127.0.0.1:{port}/readiness%24(touch%20{canary})",
        "postgresql://postgres@127.0.0.1:{port}/-f{canary}",
        "postgresql://postgres@127.0.0.1:{port}/readiness?sslmode=require%24(touch%20{canary})",
    ],
)
def test_a_hostile_database_url_never_reaches_a_shell(stack: Stack, tmp_path: Path, url: str) -> None:
    canary = tmp_path / "pwned"
    hostile = url.format(canary=canary, port=stack.servers.postgres.port)

    run = run_playbook(
        "backup", {**stack.env(tmp_path / "backups", tmp_path / "reports"), "DATABASE_URL": hostile}
    )

    assert not run.ok
    assert not canary.exists(), f"{hostile} ran a command"
    assert "The PostgreSQL URL is not usable" in run.stdout or "did not answer" in run.stdout, run.stdout[
        -2000:
    ]
    assert not (tmp_path / "backups").exists() or backups_in(tmp_path / "backups") == []


def test_a_host_python_without_psycopg_is_named_with_the_package_to_install(
    stack: Stack, tmp_path: Path
) -> None:
    plain = "/usr/bin/python3"
    probe = subprocess.run([plain, "-c", "import psycopg2"], capture_output=True, check=False)
    if not Path(plain).exists() or probe.returncode == 0:
        pytest.skip(f"needs a {plain} without psycopg2")

    run = run_playbook(
        "backup",
        stack.env(tmp_path / "backups", tmp_path / "reports"),
        extravars={"ansible_python_interpreter": plain},
    )

    assert not run.ok
    assert f"the Python at {plain}" in run.stdout
    assert "lacks psycopg or psycopg2" in run.stdout
    assert "python3-psycopg2" in run.stdout
    assert "did not answer" not in run.stdout  # the server is not blamed


def test_a_backup_manifest_is_valid_json_with_a_format(good_backup: GoodBackup) -> None:
    data = json.loads(good_backup.manifest_file.read_text())
    assert data["format"] == "readiness-backup-manifest/1"
    assert data["toc_entries"] > 0
