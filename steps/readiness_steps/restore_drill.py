"""Steps for the Restore drill area: playbook runs, their report, and the hosts. (The
weekly-drill workflow line's steps are in `workflows.py`, with the other workflow lines.)"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from pytest_bdd import parsers, then, when

from readiness_harness.drill.damage import host_of
from readiness_harness.drill.harness import DrillHarness, HostRun
from readiness_harness.fleet.inventory import FleetHost

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
def _(
    restore_drill: DrillHarness, fleet_host: FleetHost, record_evidence: Callable[[str, Any], None]
) -> HostRun:
    run = restore_drill.passing_drill(fleet_host)
    if run.report is not None:
        record_evidence("drill_report", run.report)
    return run


@when(parsers.parse("the restore drill runs on a {damage} newest backup"), target_fixture="drill_run")
def _(
    restore_drill: DrillHarness,
    fleet_host: FleetHost,
    damage: str,
    record_evidence: Callable[[str, Any], None],
) -> HostRun:
    run = restore_drill.drill_on_damaged_backup(fleet_host, damage)
    record_evidence("drill_failure", (run.report or {}).get("failure"))
    return run


@then(parsers.parse('the drill exits zero and prints every line from start to "{last}"'))
def _(drill_run: HostRun, last: str) -> None:
    host = drill_run.host.name
    assert drill_run.backup.recap(host).get("failures", 0) == 0, (
        f"the backup failed on {host}:\n{drill_run.backup.stdout[-3000:]}"
    )
    assert drill_run.passed, f"the drill failed on {host}:\n{drill_run.drill.stdout[-3000:]}"
    lines = iter(drill_run.transcript)
    for pattern in DRILL_LINES:
        assert any(re.fullmatch(pattern, line) for line in lines), (
            f"the drill on {host} did not print a line matching {pattern!r} (in order, after [{host}])"
        )
    assert last in drill_run.transcript


@then("the drill report marks every check as passed, with the restore time and the data age")
def _(drill_run: HostRun) -> None:
    report = drill_run.required_report
    failed = [name for name, ok in report["checks"].items() if not ok]
    assert report["passed"] is True and not failed, f"failed checks on {drill_run.host.name}: {failed}"
    assert report["restore_seconds"] > 0, report
    assert report["rpo_seconds"] is not None and report["rpo_seconds"] >= 0, report


@then(parsers.parse('the drill exits non-zero and prints "{banner}"'))
def _(drill_run: HostRun, banner: str) -> None:
    assert drill_run.drill.rc != 0, "the drill succeeded on a damaged backup"
    assert not drill_run.passed, f"the drill passed on a damaged copy of {drill_run.damaged_backup}"
    assert banner in drill_run.transcript, drill_run.drill.stdout[-3000:]
    assert "---- RESTORE DRILL PASSED ----" not in drill_run.transcript


@then("the failure names the backup file and the reason")
def _(drill_run: HostRun) -> None:
    assert drill_run.damaged_backup is not None
    name = drill_run.damaged_backup.rsplit("/", 1)[-1]
    transcript = "\n".join(drill_run.transcript)
    assert name in transcript, transcript[-3000:]
    report = drill_run.report or {}
    assert report.get("passed") is False, "a failed drill still writes a report saying so"
    failure = report.get("failure") or {}
    assert failure.get("reason") and failure.get("check"), f"the report gives no reason: {report}"


@then("the live database holds exactly the same rows as before")
def _(drill_run: HostRun) -> None:
    changed = sorted(
        table
        for table in set(drill_run.live_before) | set(drill_run.live_after)
        if drill_run.live_before.get(table) != drill_run.live_after.get(table)
    )
    assert not changed, f"the drill changed the live data of {drill_run.host.name}: {changed}"


@then("no scratch database is left behind")
def _(restore_drill: DrillHarness, fleet_host: FleetHost) -> None:
    assert restore_drill.scratch_databases(fleet_host) == []


@then("the newest backup file exists, is not empty and only its owner can read it")
def _(drill_run: HostRun, infra_host: Any) -> None:
    backup = infra_host.file(drill_run.newest_backup)
    assert backup.exists and backup.is_file, backup
    assert backup.size > 0, f"{backup.path} is empty"
    assert backup.mode == 0o600, f"{backup.path} has mode {oct(backup.mode)}, expected 0o600"
    folder = infra_host.file(drill_run.newest_backup.rsplit("/", 1)[0])
    assert folder.mode == 0o700, f"{folder.path} has mode {oct(folder.mode)}, expected 0o700"


@then("its sha256 matches the checksum file beside it")
def _(drill_run: HostRun, infra_host: Any) -> None:
    backup = drill_run.newest_backup
    recorded = infra_host.file(backup + ".sha256").content_string.split()[0]
    actual = infra_host.check_output("sha256sum -- %s", backup).split()[0]
    assert recorded == actual, f"{backup}: recorded {recorded}, actual {actual}"
    assert drill_run.required_report["backup"]["sha256"] == actual


@then("its manifest records every table's row count, taken in the dump's own snapshot")
def _(drill_run: HostRun, infra_host: Any) -> None:
    manifest = json.loads(infra_host.file(drill_run.newest_backup + ".manifest.json").content_string)
    assert manifest["snapshot"], "the backup was not taken from an exported snapshot"
    assert manifest["table_counts"], "the manifest records no table"
    assert {"public.cards", "public.purchases", "public.artists"} <= set(manifest["table_counts"]), manifest
    assert manifest["table_counts"] == drill_run.required_report["backup"]["recorded_counts"]


@then("the drill listed its table of contents and restored it")
def _(drill_run: HostRun) -> None:
    checks = drill_run.required_report["checks"]
    assert checks["toc"] and checks["restore"], checks
    assert drill_run.required_report["backup"]["toc_entries"] > 0


@then("the drill printed the safety snapshot before the restore")
def _(drill_run: HostRun) -> None:
    transcript = drill_run.transcript
    snapshot = [i for i, line in enumerate(transcript) if line.startswith("Safety snapshot created: ")]
    restored = [i for i, line in enumerate(transcript) if line == "Database restore completed"]
    assert snapshot and restored and snapshot[0] < restored[0], "the snapshot must come before the restore"
    assert drill_run.required_report["checks"]["safety_snapshot"] is True


@then("the snapshot file exists and is not empty")
def _(drill_run: HostRun, infra_host: Any) -> None:
    snapshot = infra_host.file(drill_run.required_report["snapshot"]["file"])
    assert snapshot.exists and snapshot.size > 0, snapshot.path


@then("the restored counts of cards, purchases and artists are the ones the backup recorded")
def _(drill_run: HostRun) -> None:
    report = drill_run.required_report
    counts = report["counts"]
    recorded = report["backup"]["recorded_counts"]
    expected = {name: recorded[f"public.{name}"] for name in ("cards", "purchases", "artists")}
    assert counts == expected, (counts, expected)
    assert all(counts[name] > 0 for name in ("cards", "purchases", "artists")), counts
    for name in ("Cards", "Purchases", "Artists"):
        assert f"{name}: {counts[name.lower()]}" in drill_run.transcript


@then("every restored table holds exactly the rows the backup recorded")
def _(drill_run: HostRun) -> None:
    report = drill_run.required_report
    assert report["table_counts"] == report["backup"]["recorded_counts"], (
        report["table_counts"],
        report["backup"]["recorded_counts"],
    )


@then("the drill found Redis reachable")
def _(drill_run: HostRun) -> None:
    assert drill_run.required_report["redis"]["reachable"] is True, drill_run.required_report["redis"]
    assert "Redis is reachable" in drill_run.transcript


@then("PostgreSQL listens on the database host and Redis on the cache host")
def _(restore_drill: DrillHarness, fleet_host: FleetHost, infra_host: Any) -> None:
    assert fleet_host.database_url
    database = urlparse(fleet_host.database_url)
    socket = infra_host.socket(f"tcp://{database.hostname}:{database.port or 5432}")
    assert socket.is_listening, f"nothing listens on {database.hostname}:{database.port} on {fleet_host.name}"
    cache = next(
        (host for host in restore_drill.fleet.cache_hosts if host.redis_url),
        None,
    )
    redis_url = (cache.redis_url if cache else None) or fleet_host.redis_url
    assert redis_url, "no cache host with readiness_redis_url in the fleet"
    redis = urlparse(redis_url)
    cache_host = host_of(cache) if cache else infra_host
    assert cache_host.socket(f"tcp://{redis.hostname}:{redis.port or 6379}").is_listening, (
        f"nothing listens on {redis.hostname}:{redis.port} on {cache.name if cache else fleet_host.name}"
    )


@then("the drill confirmed the restored database accepts writes")
def _(drill_run: HostRun) -> None:
    assert drill_run.required_report["write_check"] is True
    assert "Database write capability confirmed" in drill_run.transcript
