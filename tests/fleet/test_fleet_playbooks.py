"""The three playbooks over ssh on a namespace fleet: two database hosts with different
data, one cache host. Every host runs to the end and is reported on its own."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import testinfra
from fleet_kit import NamespaceFleet

from readiness_harness.drill.harness import DrillHarness
from readiness_harness.drill.playbooks import PlaybookRun, run_playbook
from readiness_harness.fleet.inventory import read_inventory

pytestmark = pytest.mark.slow

DATABASES = ("db1", "db2")
DIRECTORY_TASKS = ("Create the backup directory, readable by its owner only",)
RETENTION_TASKS = (
    "List the backups in the backup directory",
    "Remove backups beyond the retention count, with their checksums and manifests",
)


def reports_of(tmp: Path) -> dict[str, Any]:
    return {"readiness_drill_report_dir": str(tmp)}


def fingerprints(fleet: NamespaceFleet) -> dict[str, dict[str, tuple[int, str]]]:
    harness = DrillHarness.for_fleet(read_inventory(fleet.inventory), Path("/nonexistent"))
    return {host.name: harness.fingerprint(host) for host in harness.fleet.database_hosts}


@pytest.fixture(scope="module")
def first_round(
    fleet: NamespaceFleet, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path]:
    reports = tmp_path_factory.mktemp("fleet-reports")
    backup = run_playbook("backup", {}, inventory=fleet.inventory)
    drill = run_playbook("restore_drill", {}, reports_of(reports), inventory=fleet.inventory)
    verify = run_playbook("verify_infra", {}, inventory=fleet.inventory)
    return backup, drill, verify, reports


def test_backup_drill_and_verification_run_over_ssh_on_every_host(
    first_round: tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path], fleet: NamespaceFleet
) -> None:
    backup, drill, verify, reports = first_round
    assert backup.ok, backup.stdout[-3000:]
    assert drill.ok, drill.stdout[-3000:]
    assert verify.ok, verify.stdout[-3000:]
    assert set(backup.stats["ok"]) == set(DATABASES)
    assert set(verify.stats["ok"]) == {*DATABASES, "cache1"}
    for name in DATABASES:
        report = json.loads((reports / f"latest_{name}.json").read_text())
        assert report["passed"] is True and report["host"] == name
        assert report["counts"]["purchases"] == fleet.purchases[name]  # this host's own data
        assert report["table_counts"] == report["backup"]["recorded_counts"]
        assert report["server_address"] == f"{fleet.host(name).address}:5432"
        for line in ("Cards: ", "---- RESTORE DRILL PASSED ----"):
            assert f"[{name}] {line}" in drill.stdout
        assert len(list(reports.glob(f"drill_report_{name}_*.json"))) == 1
    summary = json.loads((reports / "latest.json").read_text())  # two hosts: the summary
    assert summary["passed"] is True and set(summary["hosts"]) == set(DATABASES)
    history = [json.loads(line) for line in (reports / "history.jsonl").read_text().splitlines()]
    assert sorted(entry["host"] for entry in history) == sorted(DATABASES)
    for name in DATABASES:
        assert f'restore_drill_last_run_passed{{host="{name}"}} 1.0' in (reports / f"{name}.prom").read_text()
    assert re.search(r"\[fleet\] db1: PASSED, RTO [0-9.]+ s, RPO [0-9.]+ s, cards \d+", drill.stdout)


def test_backups_on_each_host_are_private_and_match_their_checksum_through_testinfra_over_ssh(
    first_round: tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path], fleet: NamespaceFleet
) -> None:
    for name in DATABASES:
        host = testinfra.get_host(f"ansible://{name}?ansible_inventory={fleet.inventory}")
        folder = host.file(str(fleet.host(name).backup_path))
        assert folder.is_directory and folder.mode == 0o700
        backups = sorted(
            line
            for line in host.check_output("ls -1 -- %s", folder.path).splitlines()
            if re.fullmatch(r"backup_\d{8}_\d{6}\.pgc", line)
        )
        assert backups, f"no backup on {name}"
        archive = host.file(f"{folder.path}/{backups[-1]}")
        assert archive.mode == 0o600 and archive.size > 0
        recorded = host.file(archive.path + ".sha256").content_string.split()[0]
        assert recorded == host.check_output("sha256sum -- %s", archive.path).split()[0]
        assert host.socket(f"tcp://{fleet.host(name).address}:5432").is_listening
        assert host.run("hostname -I").stdout.split() == [fleet.host(name).address]  # really that namespace
    cache = testinfra.get_host(f"ansible://cache1?ansible_inventory={fleet.inventory}")
    assert cache.socket(f"tcp://{fleet.cache.address}:6379").is_listening


def test_a_second_backup_run_changes_nothing_in_the_directory_and_retention_steps(
    first_round: tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path], fleet: NamespaceFleet
) -> None:
    run = run_playbook("backup", {}, inventory=fleet.inventory)
    assert run.ok, run.stdout[-3000:]
    for name in DIRECTORY_TASKS + RETENTION_TASKS:
        results = run.task(name)
        assert {result.host for result in results} == set(DATABASES), name
        assert not any(result.changed for result in results), name


def test_one_corrupted_backup_fails_that_host_only_and_both_live_databases_stay_unchanged(
    first_round: tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path],
    fleet: NamespaceFleet,
    tmp_path: Path,
) -> None:
    backups = sorted(fleet.host("db1").backup_path.glob("backup_*.pgc"))
    newest = backups[-1]
    original = newest.read_bytes()
    before = fingerprints(fleet)
    damaged = bytearray(original)
    damaged[len(damaged) // 2 : len(damaged) // 2 + 32] = bytes(32)
    newest.write_bytes(bytes(damaged))
    try:
        run = run_playbook("restore_drill", {}, reports_of(tmp_path), inventory=fleet.inventory)
    finally:
        newest.write_bytes(original)
    assert not run.ok
    assert "[db1] ---- RESTORE DRILL FAILED ----" in run.stdout
    assert "[db2] ---- RESTORE DRILL PASSED ----" in run.stdout
    assert re.search(
        rf"db1: restore drill FAILED at check 'checksum' \({re.escape(str(newest))}\)", run.stdout
    )
    assert run.recap("db1")["failures"] == 1 and run.recap("db2")["failures"] == 0
    summary = json.loads((tmp_path / "latest.json").read_text())
    assert summary["failed_hosts"] == ["db1"]
    assert summary["hosts"]["db2"]["passed"] is True
    assert hashlib.sha256(newest.read_bytes()).hexdigest() == hashlib.sha256(original).hexdigest()
    assert fingerprints(fleet) == before


def test_the_drill_runs_over_ssh_with_mitogen_too(
    first_round: tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path], fleet: NamespaceFleet, tmp_path: Path
) -> None:
    run = run_playbook(
        "restore_drill", {}, reports_of(tmp_path), inventory=fleet.inventory, accelerator="mitogen"
    )
    assert run.ok, run.stdout[-3000:]
    for name in DATABASES:
        assert f"[{name}] ---- RESTORE DRILL PASSED ----" in run.stdout
        report = json.loads((tmp_path / f"latest_{name}.json").read_text())
        assert report["counts"]["purchases"] == fleet.purchases[name]


def test_hosts_whose_python_lacks_the_modules_are_told_which_one(
    fleet: NamespaceFleet, tmp_path: Path
) -> None:
    run = run_playbook(
        "backup", {}, {"ansible_python_interpreter": "/usr/bin/python3"}, inventory=fleet.inventory
    )
    assert not run.ok
    for name in DATABASES:
        assert f"{name}: the Python at /usr/bin/python3" in run.stdout
    assert "lacks psycopg or psycopg2" in run.stdout and "python3-psycopg2" in run.stdout
    assert "did not answer" not in run.stdout


def test_readiness_check_on_the_fleet_records_every_drill_line_per_host(
    first_round: tuple[PlaybookRun, PlaybookRun, PlaybookRun, Path], fleet: NamespaceFleet, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "readiness"),
            "check",
            "--inventory",
            str(fleet.inventory),
            "-m",
            "restore_drill or backup_retention",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
        # The whole checklist path with the accelerator (the playbook tests above run plain).
        env={**os.environ, "READINESS_ANSIBLE_ACCELERATOR": "mitogen"},
    )
    readiness = json.loads((tmp_path / "readiness.json").read_text())
    lines = [line for line in readiness["lines"] if line["selected"]]
    per_host = [line for line in lines if any("fleet_host" in ex["params"] for ex in line["examples"])]
    assert len(per_host) >= 8, [line["scenario"] for line in lines]
    for line in per_host:
        by_host: dict[str, list[str]] = {}
        for example in line["examples"]:
            by_host.setdefault(example["params"]["fleet_host"], []).append(example["state"])
        assert sorted(by_host) == sorted(DATABASES), (line["scenario"], by_host)
        failing = {host: states for host, states in by_host.items() if set(states) != {"verified"}}
        assert not failing, (line["scenario"], failing, [ex["message"] for ex in line["examples"]])
        assert line["state"] == "verified", line["scenario"]
        assert line["by_host"] == dict.fromkeys(DATABASES, "verified"), line["by_host"]
    weekly = [line for line in lines if "weekly_auto_drill" in line["tags"]]
    assert weekly and not any(
        "fleet_host" in ex["params"] for ex in weekly[0]["examples"]
    )  # a file, not a host
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "ALL" in result.stdout and "SELECTED LINES PASSED" in result.stdout
