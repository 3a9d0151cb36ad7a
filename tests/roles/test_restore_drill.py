"""playbooks/restore_drill.yml (role restore_drill) against a real PostgreSQL 18 + Redis."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
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
    table_counts,
    write_manifest,
)

from readiness_harness.drill.playbooks import PlaybookRun, read_drill_report, run_playbook

pytestmark = pytest.mark.slow

CHECKS = (
    "settings",
    "client_binaries",
    "target",
    "backup_found",
    "checksum",
    "manifest",
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
    assert list(run.messages[: len(expected)]) == expected
    assert run.messages[len(expected)].startswith("Drill summary (1 hosts, 0 failed): ")
    assert run.messages[len(expected) + 1].startswith("localhost: PASSED, RTO ")
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
    assert report["table_counts"] == good_backup.manifest["table_counts"]
    assert report["backup"]["recorded_counts"] == good_backup.manifest["table_counts"]
    assert report["backup"]["system_identifier"] == report["system_identifier"]
    assert report["redis"]["reachable"] is True
    assert report["write_check"] is True
    assert 0 < report["restore_seconds"] < report["duration_seconds"]
    assert 0 <= report["rpo_seconds"] < 3600
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", report["newest_purchase_at"])
    assert report["started_at"] <= report["finished_at"]
    assert run.report_path.name.startswith("drill_report_localhost_")
    latest = run.report_path.parent / "latest.json"
    assert os.path.realpath(run.report_path.parent / "latest_localhost.json") == os.path.realpath(
        run.report_path
    )
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


def _newer(
    directory: Path, good: GoodBackup, content: bytes, checksum_of: bytes | None, **manifest: Any
) -> None:
    """A newest backup NEWER beside a copy of the good one, with a checksum of
    `checksum_of` (none when None) and the good backup's manifest (with `manifest` changes)."""
    copy_backup(good.path, directory)
    newest = directory / NEWER
    newest.write_bytes(content)
    newest.chmod(0o600)
    if checksum_of is not None:
        (directory / f"{NEWER}.sha256").write_text(sha256_line(newest, checksum_of))
    write_manifest(newest, good.manifest, **manifest)


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


def _no_manifest(directory: Path, good: GoodBackup) -> None:
    _newer(directory, good, good.path.read_bytes(), checksum_of=good.path.read_bytes())
    (directory / f"{NEWER}.manifest.json").unlink()


def _other_cluster(directory: Path, good: GoodBackup) -> None:
    other = {**good.manifest["server"], "system_identifier": "1234567890123456789", "address": "10.0.0.9"}
    _newer(directory, good, good.path.read_bytes(), checksum_of=good.path.read_bytes(), server=other)


EARLY_FAILURES = {
    "corrupted": Failure("checksum", NEWER, "does not match its checksum file", _corrupted),
    "truncated": Failure("checksum", NEWER, "does not match its checksum file", _truncated),
    "empty": Failure("backup_found", NEWER, "is empty (0 bytes)", _empty),
    "missing": Failure("backup_found", NEWER, "is missing", _missing),
    "no checksum file": Failure("checksum", f"{NEWER}.sha256", "is missing", _no_checksum),
    "not an archive": Failure("toc", NEWER, "pg_restore --list cannot read", _not_an_archive),
    "no manifest": Failure("manifest", f"{NEWER}.manifest.json", "is missing or unreadable", _no_manifest),
    "from another cluster": Failure(
        "manifest",
        NEWER,
        "comes from another cluster: it was taken from system identifier 1234567890123456789",
        _other_cluster,
    ),
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
    """Damaged in its data (bytes zeroed at 90%, past the table of contents), with a
    checksum that matches the damaged file: only the restore itself can notice."""
    data = bytearray(good_backup.path.read_bytes())
    at = len(data) * 9 // 10
    data[at : at + 64] = bytes(64)
    _newer(tmp_path / "backups", good_backup, bytes(data), checksum_of=bytes(data))
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


def test_a_backup_cut_short_then_checksummed_fails_the_drill(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    """What a full disk does: the dump dies at 80% and the cut file is then checksummed.
    On PostgreSQL 18 pg_restore notices the missing data blocks itself; had it not, the
    data check (exact counts from the backup's manifest) would have."""
    data = good_backup.path.read_bytes()
    cut = data[: len(data) * 8 // 10]
    _newer(tmp_path / "backups", good_backup, cut, checksum_of=cut)
    before = fingerprint(stack)

    run = drill(stack, tmp_path, tmp_path / "backups")

    assert run.report is not None
    check = run.report["failure"]["check"]
    assert check in ("restore", "data"), run.report["failure"]
    assert_failed(run, check, NEWER, "pg_restore of" if check == "restore" else "is incomplete")
    assert scratch_databases(stack) == []
    assert fingerprint(stack) == before


def test_a_backup_that_restores_cleanly_but_lacks_rows_fails_the_data_check(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    """The archive is a valid dump (pg_restore is happy) holding fewer rows than its
    manifest recorded in the dump's own snapshot, e.g. swapped for an older or partial
    copy with its checksum recomputed: only the exact counts can tell."""
    with stack.connect() as conn:
        conn.execute("CREATE DATABASE shrunk")
    archive = tmp_path / "shrunk.pgc"
    try:
        subprocess.run(
            [
                str(stack.bin_dir / "pg_restore"),
                f"--dbname={stack.servers.postgres.admin_url('shrunk')}",
                str(good_backup.path),
            ],
            check=True,
            capture_output=True,
        )
        with stack.connect("shrunk") as conn:
            conn.execute("DELETE FROM cards WHERE card_id % 5 = 0")
        subprocess.run(
            [
                str(stack.bin_dir / "pg_dump"),
                "-Fc",
                "-f",
                str(archive),
                stack.servers.postgres.admin_url("shrunk"),
            ],
            check=True,
            capture_output=True,
        )
    finally:
        with stack.connect() as conn:
            conn.execute("DROP DATABASE shrunk WITH (FORCE)")
    content = archive.read_bytes()
    _newer(tmp_path / "backups", good_backup, content, checksum_of=content)
    before = fingerprint(stack)

    run = drill(stack, tmp_path, tmp_path / "backups")

    report = assert_failed(run, "data", NEWER, "is incomplete: the backup's manifest recorded")
    assert report["checks"]["restore"] is True  # pg_restore did not notice
    recorded = good_backup.manifest["table_counts"]["public.cards"]
    assert f"'public.cards': {recorded}" in report["failure"]["reason"]
    assert report["table_counts"]["public.cards"] < recorded
    assert scratch_databases(stack) == []
    assert fingerprint(stack) == before


def test_the_drill_reports_the_backups_counts_not_the_live_ones(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    copy_backup(good_backup.path, tmp_path / "backups")
    with stack.connect() as conn:
        seed(conn, "written-after-the-backup")
    live = table_counts(stack)
    assert live != good_backup.manifest["table_counts"]

    run = drill(stack, tmp_path, tmp_path / "backups")

    assert run.ok, run.stdout
    assert run.report is not None
    assert run.report["table_counts"] == good_backup.manifest["table_counts"]
    assert run.report["counts"] == good_backup.counts != counts(stack)
    assert f"Cards: {good_backup.counts['cards']}" in run.messages


def test_a_long_database_name_gets_a_scratch_name_of_at_most_63_bytes_with_the_timestamp(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    long_name = "cardpack_payments_" + "x" * 45  # 63 bytes, PostgreSQL's longest
    with stack.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(long_name)))
    try:
        subprocess.run(
            [
                str(stack.bin_dir / "pg_restore"),
                f"--dbname={stack.servers.postgres.admin_url(long_name)}",
                str(good_backup.path),
            ],
            check=True,
            capture_output=True,
        )
        env = {"DATABASE_URL": stack.servers.postgres.admin_url(long_name)}
        backup = run_playbook("backup", {**stack.env(tmp_path / "backups", tmp_path / "reports"), **env})
        assert backup.ok, backup.stdout

        run = drill(stack, tmp_path, tmp_path / "backups", env)

        assert run.ok, run.stdout
        assert run.report is not None
        target = run.report["restore_target"]
        assert len(target.encode()) <= 63, target
        assert re.fullmatch(rf"{long_name[:41]}_drill_\d{{8}}_\d{{6}}", target), target
        started = run.report["started_at"]  # the scratch name carries the drill's start, whole
        assert target.endswith("_drill_" + re.sub(r"[-:Z]", "", started).replace("T", "_")), (target, started)
    finally:
        with stack.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(long_name)))


def test_every_drill_appends_history_and_writes_a_textfile_that_keeps_the_last_success(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    copy_backup(good_backup.path, tmp_path / "backups")
    passed = drill(stack, tmp_path, tmp_path / "backups")
    assert passed.ok, passed.stdout
    textfile = tmp_path / "reports" / "localhost.prom"
    first = textfile.read_text()

    _empty(tmp_path / "broken", good_backup)
    failed = drill(stack, tmp_path, tmp_path / "broken")
    assert not failed.ok

    history = [json.loads(line) for line in (tmp_path / "reports" / "history.jsonl").read_text().splitlines()]
    assert [entry["passed"] for entry in history] == [True, False]
    assert history[0]["host"] == "localhost"
    assert history[0]["backup"] == good_backup.path.name
    assert history[0]["counts"] == good_backup.counts
    assert history[0]["rto_seconds"] > 0 and history[0]["rpo_seconds"] >= 0
    assert history[1]["failure"]["check"] == "backup_found"
    assert set(history[0]) == {
        "finished_at",
        "host",
        "backup",
        "rto_seconds",
        "rpo_seconds",
        "counts",
        "passed",
        "failure",
    }

    def metric(text: str, name: str) -> float:
        match = re.search(rf'^{name}{{host="localhost"}} (\S+)$', text, re.MULTILINE)
        assert match, f"no {name} in:\n{text}"
        return float(match.group(1))

    second = textfile.read_text()
    assert metric(first, "restore_drill_last_run_passed") == 1
    assert metric(second, "restore_drill_last_run_passed") == 0
    success = metric(first, "restore_drill_last_success_timestamp_seconds")
    assert abs(success - time.time()) < 600
    assert metric(second, "restore_drill_last_success_timestamp_seconds") == success  # kept
    assert metric(first, "restore_drill_last_rto_seconds") == history[0]["rto_seconds"]
    assert metric(first, "restore_drill_last_rpo_seconds") == history[0]["rpo_seconds"]
    promtool = shutil.which("promtool")
    if promtool:  # the textfile format node_exporter reads
        checked = subprocess.run([promtool, "check", "metrics"], input=second, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not list((tmp_path / "reports").glob("*.tmp-*"))


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
