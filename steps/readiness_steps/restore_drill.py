"""Steps for the Restore drill area: playbook runs, their report, and the hosts. (The
weekly-drill workflow line's steps are in `workflows.py`, with the other workflow lines.)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from pytest_bdd import parsers, then, when

from readiness_harness.drill.harness import DrillHarness, DrillRun

# The transcript as DESIGN.md shows it: each entry must be a whole output line, in order.
DRILL_LINES = (
    r"---- RESTORE DRILL START ----",
    r"Using backup: backup_\d{8}_\d{6}\.pgc",
    r"Safety snapshot created: pre_drill_snapshot_\d{8}_\d{6}\.pgc",
    r"Database restore completed",
    r"Cards: \d+",
    r"Purchases: \d+",
    r"Artists: \d+",
    r"Data verification passed",
    r"Redis is reachable",
    r"Database write capability confirmed",
    r"---- RESTORE DRILL PASSED ----",
)


@when("the restore drill runs on the newest backup", target_fixture="drill_run")
def _(restore_drill: DrillHarness, record_evidence: Callable[[str, Any], None]) -> DrillRun:
    run = restore_drill.passing_drill()
    if run.drill.report is not None:
        record_evidence("drill_report", run.drill.report)
    return run


@when(parsers.parse("the restore drill runs on a {damage} newest backup"), target_fixture="drill_run")
def _(restore_drill: DrillHarness, damage: str, record_evidence: Callable[[str, Any], None]) -> DrillRun:
    run = restore_drill.drill_on_damaged_backup(damage)
    record_evidence("drill_failure", (run.drill.report or {}).get("failure"))
    return run


@then(parsers.parse('the drill exits zero and prints every line from start to "{last}"'))
def _(drill_run: DrillRun, last: str) -> None:
    assert drill_run.backup.ok, f"the backup failed:\n{drill_run.backup.stdout[-3000:]}"
    assert drill_run.drill.ok, f"the drill failed:\n{drill_run.drill.stdout[-3000:]}"
    lines = iter(drill_run.drill.stdout.splitlines())
    for pattern in DRILL_LINES:
        assert any(re.fullmatch(pattern, line) for line in lines), (
            f"the drill did not print a line matching {pattern!r} (in order)"
        )
    assert last in drill_run.drill.stdout


@then("the drill report marks every check as passed, with the restore time and the data age")
def _(drill_run: DrillRun) -> None:
    report = drill_run.report
    failed = [name for name, ok in report["checks"].items() if not ok]
    assert report["passed"] is True and not failed, f"failed checks: {failed}"
    assert report["restore_seconds"] > 0, report
    assert report["rpo_seconds"] is not None and report["rpo_seconds"] >= 0, report


@then(parsers.parse('the drill exits non-zero and prints "{banner}"'))
def _(drill_run: DrillRun, banner: str) -> None:
    assert drill_run.drill.rc != 0, "the drill succeeded on a damaged backup"
    assert banner in drill_run.drill.stdout, drill_run.drill.stdout[-3000:]
    assert "RESTORE DRILL PASSED" not in drill_run.drill.stdout


@then("the failure names the backup file and the reason")
def _(drill_run: DrillRun) -> None:
    assert drill_run.damaged_backup is not None
    output = drill_run.drill.stdout
    assert drill_run.damaged_backup.name in output, output[-3000:]
    report = drill_run.drill.report or {}
    assert report.get("passed") is False, "a failed drill still writes a report saying so"
    assert report.get("failure"), f"the report gives no reason: {report}"


@then("the live database holds the same data as before")
def _(drill_run: DrillRun) -> None:
    assert drill_run.live_counts_after == drill_run.live_counts_before


@then("no scratch database is left behind")
def _(restore_drill: DrillHarness) -> None:
    assert restore_drill.scratch_databases() == []


@then("the newest backup file exists, is not empty and only its owner can read it")
def _(drill_run: DrillRun, infra_host: Any) -> None:
    backup = infra_host.file(str(drill_run.newest_backup))
    assert backup.exists and backup.is_file, backup
    assert backup.size > 0, f"{backup.path} is empty"
    assert backup.mode == 0o600, f"{backup.path} has mode {oct(backup.mode)}, expected 0o600"
    assert infra_host.file(str(drill_run.backup_dir)).mode == 0o700


@then("its sha256 matches the checksum file beside it")
def _(drill_run: DrillRun, infra_host: Any) -> None:
    backup = drill_run.newest_backup
    recorded = infra_host.file(str(backup) + ".sha256").content_string.split()[0]
    actual = hashlib.sha256(backup.read_bytes()).hexdigest()
    assert recorded == actual, f"{backup.name}: recorded {recorded}, actual {actual}"
    assert drill_run.report["backup"]["sha256"] == actual


@then("the drill listed its table of contents and restored it")
def _(drill_run: DrillRun) -> None:
    checks = drill_run.report["checks"]
    assert checks["toc"] and checks["restore"], checks
    assert drill_run.report["backup"]["toc_entries"] > 0


@then("the drill printed the safety snapshot before the restore")
def _(drill_run: DrillRun) -> None:
    output = drill_run.drill.stdout
    snapshot = output.find("Safety snapshot created: pre_drill_snapshot_")
    restored = output.find("Database restore completed")
    assert 0 <= snapshot < restored, "the snapshot must come before the restore"
    assert drill_run.report["checks"]["safety_snapshot"] is True


@then("the snapshot file exists and is not empty")
def _(drill_run: DrillRun, infra_host: Any) -> None:
    snapshot = infra_host.file(drill_run.report["snapshot"]["file"])
    assert snapshot.exists and snapshot.size > 0, snapshot.path


@then("the restored counts of cards, purchases and artists match the live database")
def _(drill_run: DrillRun) -> None:
    counts = drill_run.report["counts"]
    assert counts == drill_run.live_counts_before, (counts, drill_run.live_counts_before)
    assert all(counts[name] > 0 for name in ("cards", "purchases", "artists")), counts


@then("the drill found Redis reachable")
def _(drill_run: DrillRun) -> None:
    assert drill_run.report["redis"]["reachable"] is True, drill_run.report["redis"]
    assert "Redis is reachable" in drill_run.drill.stdout


@then("PostgreSQL and Redis are listening on the target host")
def _(infra_host: Any, restore_drill: DrillHarness) -> None:
    from urllib.parse import urlparse

    for url in (restore_drill.database_url, restore_drill.redis_url):
        parsed = urlparse(url)
        socket = infra_host.socket(f"tcp://{parsed.hostname}:{parsed.port}")
        assert socket.is_listening, f"nothing listens on {parsed.hostname}:{parsed.port}"


@then("the drill confirmed the restored database accepts writes")
def _(drill_run: DrillRun) -> None:
    assert drill_run.report["write_check"] is True
    assert "Database write capability confirmed" in drill_run.drill.stdout
