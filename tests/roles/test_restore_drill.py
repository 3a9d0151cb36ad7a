"""playbooks/restore_drill.yml (role restore_drill) against a real PostgreSQL 18 + Redis."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from roles_kit import (
    GoodBackup,
    Stack,
    copy_backup,
    counts,
    drill,
    fingerprint,
    scratch_databases,
    seed,
    sha256_line,
)

from readiness_harness.drill.playbooks import PlaybookRun, read_drill_report

pytestmark = pytest.mark.slow

CHECKS = (
    "settings",
    "client_binaries",
    "target",
    "backup_found",
    "checksum",
    "toc",
    "safety_snapshot",
    "restore",
    "data",
    "redis",
    "write",
    "cleanup",
)
NEWER = "backup_29990101_000000.pgc"  # sorts after any real backup: the "newest"
SNAPSHOT_NAME = re.compile(r"^pre_drill_snapshot_\d{8}_\d{6}\.pgc$")
DUMP_SNAPSHOT = "Dump the target database as the safety snapshot"
RESTORE = "Restore the backup with pg_restore of the server's version"


def assert_failed(run: PlaybookRun, check: str, file: str, reason: str) -> dict[str, Any]:
    """The drill failed at `check`, said so, named `file` and `reason`, and reported it."""
    assert run.rc != 0, run.stdout
    assert "---- RESTORE DRILL FAILED ----" in run.messages, run.messages
    assert "---- RESTORE DRILL PASSED ----" not in run.stdout
    explanation = "\n".join(run.messages)
    assert f"Failed check: {check}" in explanation, explanation
    assert file in explanation, explanation
    assert reason in explanation, explanation
    assert "What to do: " in explanation
    assert run.report is not None, run.stdout
    assert run.report["passed"] is False
    assert run.report["checks"][check] is False
    assert run.report["failure"]["check"] == check
    return run.report


# --- the drill passes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def passing(
    stack: Stack, good_backup: GoodBackup, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PlaybookRun, dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("drill-pass")
    copy_backup(good_backup.path, tmp / "backups")
    before = fingerprint(stack)
    run = drill(stack, tmp, tmp / "backups")
    return run, before, fingerprint(stack)


def test_drill_passes_and_prints_the_drill_lines_with_real_counts(
    passing: tuple[PlaybookRun, dict[str, Any], dict[str, Any]], good_backup: GoodBackup
) -> None:
    run, _, _ = passing
    assert run.ok, run.stdout
    assert run.report is not None
    snapshot = run.report["snapshot"]["name"]
    assert SNAPSHOT_NAME.match(snapshot)
    expected = [
        "---- RESTORE DRILL START ----",
        f"Using backup: {good_backup.path.name}",
        f"Safety snapshot created: {snapshot}",
        "Database restore completed",
        f"Cards: {good_backup.counts['cards']}",
        f"Purchases: {good_backup.counts['purchases']}",
        f"Artists: {good_backup.counts['artists']}",
        "Data verification passed",
        "Redis is reachable",
        "Database write capability confirmed",
        "---- RESTORE DRILL PASSED ----",
    ]
    assert list(run.messages) == expected
    positions = [run.stdout.index(f'"msg": "{line}"') for line in expected]
    assert positions == sorted(positions)  # in ansible-playbook's stdout, in this order


def test_drill_report_records_rto_rpo_and_every_check(
    passing: tuple[PlaybookRun, dict[str, Any], dict[str, Any]],
    good_backup: GoodBackup,
    local_host: Any,
) -> None:
    run, _, _ = passing
    assert run.report is not None and run.report_path is not None
    report = run.report
    assert report["passed"] is True
    assert report["checks"] == dict.fromkeys(CHECKS, True)
    assert report["failure"] is None
    assert report["backup"]["name"] == good_backup.path.name
    assert report["backup"]["size_bytes"] == good_backup.path.stat().st_size
    sha256 = local_host.check_output("sha256sum %s", str(good_backup.path)).split()[0]
    assert report["backup"]["sha256"] == sha256
    assert report["counts"] == good_backup.counts
    assert report["redis"]["reachable"] is True
    assert report["write_check"] is True
    assert 0 < report["restore_seconds"] < report["duration_seconds"]
    assert 0 <= report["rpo_seconds"] < 3600
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", report["newest_purchase_at"])
    assert report["started_at"] <= report["finished_at"]
    latest = run.report_path.parent / "latest.json"
    assert os.path.realpath(latest) == os.path.realpath(run.report_path)
    assert read_drill_report(latest) == report
    snapshot = local_host.file(report["snapshot"]["file"])
    assert snapshot.exists and snapshot.mode == 0o600 and snapshot.size > 0


def test_drill_restores_into_a_scratch_database_and_always_drops_it(
    passing: tuple[PlaybookRun, dict[str, Any], dict[str, Any]], stack: Stack
) -> None:
    run, before, after = passing
    assert run.report is not None
    assert run.report["restore_in_place"] is False
    assert run.report["restore_target"].startswith("readiness_drill_")
    assert after == before  # the live database was not touched
    assert scratch_databases(stack) == []


def test_the_snapshot_is_taken_before_anything_is_restored(
    passing: tuple[PlaybookRun, dict[str, Any], dict[str, Any]],
) -> None:
    run, _, _ = passing
    order = [result.task for result in run.tasks if result.status == "changed"]
    assert order.index(DUMP_SNAPSHOT) < order.index("Create the scratch database")
    assert order.index("Create the scratch database") < order.index(RESTORE)


# --- the drill fails before restoring anything, and says why ------------------------


@dataclass(frozen=True)
class Failure:
    """A broken setup, the check that must fail, and what the message must say."""

    check: str
    file: str  # a name the message must contain
    reason: str
    prepare: Callable[[Path, GoodBackup], object] = lambda directory, good: None
    env: dict[str, str] = field(default_factory=dict)
    extravars: dict[str, Any] = field(default_factory=dict)
    snapshot_taken: bool = False  # failures after the snapshot still restore nothing


def _newer(directory: Path, good: GoodBackup, content: bytes, checksum_of: bytes | None) -> None:
    copy_backup(good.path, directory)
    newest = directory / NEWER
    newest.write_bytes(content)
    newest.chmod(0o600)
    if checksum_of is not None:
        (directory / f"{NEWER}.sha256").write_text(sha256_line(newest, checksum_of))


def _corrupted(directory: Path, good: GoodBackup) -> None:
    data = bytearray(good.path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    _newer(directory, good, bytes(data), checksum_of=good.path.read_bytes())


def _truncated(directory: Path, good: GoodBackup) -> None:
    data = good.path.read_bytes()
    _newer(directory, good, data[: len(data) // 2], checksum_of=data)


def _empty(directory: Path, good: GoodBackup) -> None:
    _newer(directory, good, b"", checksum_of=b"")


def _missing(directory: Path, good: GoodBackup) -> None:
    _newer(directory, good, good.path.read_bytes(), checksum_of=good.path.read_bytes())
    (directory / NEWER).unlink()


def _no_checksum(directory: Path, good: GoodBackup) -> None:
    _newer(directory, good, good.path.read_bytes(), checksum_of=None)


def _not_an_archive(directory: Path, good: GoodBackup) -> None:
    garbage = b"this is not a pg_dump archive\n" * 100
    _newer(directory, good, garbage, checksum_of=garbage)


def _no_backup(directory: Path, good: GoodBackup) -> None:
    directory.mkdir(mode=0o700)


EARLY_FAILURES = {
    "corrupted": Failure("checksum", NEWER, "does not match its checksum file", _corrupted),
    "truncated": Failure("checksum", NEWER, "does not match its checksum file", _truncated),
    "empty": Failure("backup_found", NEWER, "is empty (0 bytes)", _empty),
    "missing": Failure("backup_found", NEWER, "is missing", _missing),
    "no checksum file": Failure("checksum", f"{NEWER}.sha256", "is missing", _no_checksum),
    "not an archive": Failure("toc", NEWER, "pg_restore --list cannot read", _not_an_archive),
    "no backup at all": Failure("backup_found", "backups", "No backup found in", _no_backup),
    "client of another major version": Failure(
        "client_binaries",
        "",
        "No pg_dump of PostgreSQL 18 found",
        lambda directory, good: copy_backup(good.path, directory),
        env={"PG_BIN_DIR": "", "PATH": "/usr/bin:/bin"},
    ),
    "live database as scratch target": Failure(
        "target",
        "",
        "Refusing to restore into the live database 'readiness'",
        lambda directory, good: copy_backup(good.path, directory),
        extravars={"restore_drill_scratch_database": "readiness"},
    ),
    "existing database as scratch target": Failure(
        "target",
        "",
        "The scratch database 'bystander' already exists",
        lambda directory, good: copy_backup(good.path, directory),
        extravars={"restore_drill_scratch_database": "bystander"},
        snapshot_taken=True,
    ),
}


@pytest.fixture(scope="module")
def early_failures(
    stack: Stack, good_backup: GoodBackup, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, tuple[PlaybookRun, Path]], dict[str, Any], dict[str, Any]]:
    """Every broken setup, drilled concurrently (none gets as far as a restore)."""
    jobs: dict[str, tuple[Path, Failure]] = {}
    for name, failure in EARLY_FAILURES.items():
        tmp = tmp_path_factory.mktemp("drill-" + re.sub(r"\W+", "-", name))
        failure.prepare(tmp / "backups", good_backup)
        jobs[name] = (tmp, failure)

    def run(name: str) -> tuple[PlaybookRun, Path]:
        tmp, failure = jobs[name]
        return drill(stack, tmp, tmp / "backups", failure.env, **failure.extravars), tmp

    with stack.connect() as conn:
        conn.execute("CREATE DATABASE bystander")
    with stack.connect("bystander") as conn:
        conn.execute("CREATE TABLE precious AS SELECT 42 AS answer")
    before = fingerprint(stack)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip(jobs, pool.map(run, jobs), strict=True))
    return results, before, fingerprint(stack)


@pytest.mark.parametrize("name", list(EARLY_FAILURES))
def test_a_broken_newest_backup_or_setup_fails_the_drill_and_says_why(
    name: str,
    early_failures: tuple[dict[str, tuple[PlaybookRun, Path]], dict[str, Any], dict[str, Any]],
) -> None:
    failure = EARLY_FAILURES[name]
    run, tmp = early_failures[0][name]
    report = assert_failed(run, failure.check, failure.file, failure.reason)
    reached = CHECKS[: CHECKS.index(failure.check)]
    assert all(report["checks"][check] is True for check in reached), report["checks"]
    assert report["checks"]["restore"] is None
    assert run.task(RESTORE) == []  # nothing restored
    if failure.snapshot_taken:
        assert report["checks"]["safety_snapshot"] is True
    else:
        assert report["snapshot"] is None
        assert not (tmp / "backups" / "snapshots").exists()


def test_failed_drills_leave_the_live_database_unchanged_and_no_scratch_database(
    early_failures: tuple[dict[str, tuple[PlaybookRun, Path]], dict[str, Any], dict[str, Any]],
    stack: Stack,
) -> None:
    _, before, after = early_failures
    assert after == before
    assert scratch_databases(stack) == []
    with stack.connect("bystander") as conn:  # an existing database is never used or dropped
        assert conn.execute("SELECT answer FROM precious").fetchall() == [(42,)]


def test_a_backup_that_pg_restore_cannot_restore_fails_and_the_scratch_database_is_dropped(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    """Cut in half after its table of contents, with a checksum that matches the cut file:
    only the restore itself can notice. (Beware: PostgreSQL 18 archives restore cleanly
    with their last quarter cut off, so cut deeper than that.)"""
    data = good_backup.path.read_bytes()
    cut = len(data) // 2
    _newer(tmp_path / "backups", good_backup, data[:cut], checksum_of=data[:cut])
    before = fingerprint(stack)

    run = drill(stack, tmp_path, tmp_path / "backups")

    report = assert_failed(run, "restore", NEWER, "pg_restore of")
    assert report["checks"]["safety_snapshot"] is True
    assert report["checks"]["cleanup"] is True
    assert [result.status for result in run.task("Drop the scratch database, ending any session on it")] == [
        "changed"
    ]
    assert scratch_databases(stack) == []
    assert fingerprint(stack) == before


# --- restoring over the live database -----------------------------------------------


def restore_into_temp_database(stack: Stack, archive: Path, name: str) -> dict[str, int]:
    """Counts of `archive` restored with the server's own pg_restore (then dropped)."""
    with stack.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        subprocess.run(
            [
                str(stack.bin_dir / "pg_restore"),
                f"--dbname={stack.servers.postgres.admin_url(name)}",
                str(archive),
            ],
            check=True,
            capture_output=True,
        )
        return counts(stack, name)
    finally:
        with stack.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_restore_in_place_happens_only_when_asked_and_after_the_snapshot(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    copy_backup(good_backup.path, tmp_path / "backups")
    with stack.connect() as conn:
        seed(conn, "after-backup")  # data the backup does not have
    live_before_drill = counts(stack)
    assert live_before_drill != good_backup.counts

    run = drill(stack, tmp_path, tmp_path / "backups", restore_drill_restore_in_place=True)

    assert run.ok, run.stdout
    assert run.report is not None
    assert run.report["restore_in_place"] is True
    assert run.report["restore_target"] == "readiness"
    # the live database now holds exactly what the backup held ...
    assert fingerprint(stack) == good_backup.fingerprint
    # ... and the snapshot, taken first, holds what it had before
    order = [result.task for result in run.tasks if result.status == "changed"]
    assert order.index(DUMP_SNAPSHOT) < order.index(RESTORE)
    snapshot = Path(run.report["snapshot"]["file"])
    assert restore_into_temp_database(stack, snapshot, "snapshot_check") == live_before_drill
    assert scratch_databases(stack) == []


def test_restore_in_place_never_starts_when_the_snapshot_fails(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    copy_backup(good_backup.path, tmp_path / "backups")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with stack.connect() as conn:
        seed(conn, "snapshot-fails")
    before = fingerprint(stack)

    run = drill(
        stack,
        tmp_path,
        tmp_path / "backups",
        restore_drill_restore_in_place=True,
        restore_drill_snapshot_dir=str(blocker / "snapshots"),
    )

    report = assert_failed(run, "safety_snapshot", str(blocker / "snapshots"), "safety snapshot")
    assert report["checks"]["restore"] is None
    assert run.task(RESTORE) == []
    assert fingerprint(stack) == before
