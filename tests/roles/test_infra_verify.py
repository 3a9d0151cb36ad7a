"""playbooks/verify_infra.yml (role infra_verify): read-only checks, every problem listed."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import yaml
from roles_kit import GoodBackup, Stack, copy_backup, write_manifest

from readiness_harness.drill.playbooks import run_playbook
from readiness_harness.target.embedded import free_port

pytestmark = pytest.mark.slow


def test_healthy_infrastructure_passes(stack: Stack, good_backup: GoodBackup, tmp_path: Path) -> None:
    backup_dir = tmp_path / "backups"
    copy_backup(good_backup.path, backup_dir)

    run = run_playbook("verify_infra", stack.env(backup_dir, tmp_path / "reports"))

    assert run.ok, run.stdout
    summary = "\n".join(run.messages)
    assert "PostgreSQL is reachable at 127.0.0.1" in summary
    assert "Redis is reachable at 127.0.0.1" in summary
    assert f"newest {good_backup.path.name}" in summary
    assert run.recap()["changed"] == 0


def test_every_problem_is_listed_and_fails_the_run(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    copy_backup(good_backup.path, backup_dir)
    backup_dir.chmod(0o755)
    stale = time.time() - 3 * 3600
    for day in (1, 2):
        old = backup_dir / f"backup_2020010{day}_030000.pgc"
        old.write_bytes(b"PGDMP")
        os.utime(old, (stale, stale))
    os.utime(backup_dir / good_backup.path.name, (stale, stale))
    env = stack.env(backup_dir, tmp_path / "reports", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")

    run = run_playbook(
        "verify_infra",
        env,
        extravars={"infra_verify_backup_retention": 2, "infra_verify_backup_max_age_hours": 1},
    )

    assert not run.ok
    failure = run.stdout[run.stdout.index("Infrastructure verification FAILED") :]
    assert "Redis at 127.0.0.1:" in failure and "did not answer" in failure
    assert "has mode 0755, expected 0700" in failure
    assert "3 backups kept, more than the retention of 2" in failure
    newest = backup_dir / good_backup.path.name
    assert re.search(rf"Newest backup {re.escape(str(newest))} is 3\.[0-9]+ h old, more than 1 h", failure)
    assert "Checksum file missing: " in failure and "backup_20200101_030000.pgc.sha256" in failure
    assert "PostgreSQL" not in failure  # PostgreSQL itself was fine


def test_a_scratch_database_left_by_an_interrupted_drill_fails_verification(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    copy_backup(good_backup.path, backup_dir)
    leftover = "readiness_drill_20200101_000000"
    with stack.connect() as conn:
        conn.execute(f"CREATE DATABASE {leftover}")
    try:
        run = run_playbook("verify_infra", stack.env(backup_dir, tmp_path / "reports"))
    finally:
        with stack.connect() as conn:
            conn.execute(f"DROP DATABASE {leftover}")
    assert not run.ok
    assert "Leftover restore-drill scratch database(s) older than 120 min" in run.stdout
    assert leftover in run.stdout


def test_a_newest_backup_from_another_cluster_fails_verification(
    stack: Stack, good_backup: GoodBackup, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backups"
    copy = copy_backup(good_backup.path, backup_dir)
    other = {**good_backup.manifest["server"], "system_identifier": "42", "address": "10.9.9.9"}
    write_manifest(copy, good_backup.manifest, server=other)

    run = run_playbook("verify_infra", stack.env(backup_dir, tmp_path / "reports"))

    assert not run.ok
    assert f"Newest backup {copy} comes from another cluster: system identifier 42 at 10.9.9.9" in run.stdout


def test_two_hosts_given_the_same_database_url_fail_as_the_same_cluster(stack: Stack, tmp_path: Path) -> None:
    """inventory/production.example.yml's old mistake: one DATABASE_URL for every host."""
    inventory = tmp_path / "fleet.yml"
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "database_primary": {
                            "hosts": {
                                name: {**host, "readiness_backup_path": str(tmp_path / name / "backups")}
                                for name in ("db-a", "db-b")
                            }
                        }
                    }
                }
            }
        )
    )
    for playbook in ("backup", "verify_infra"):
        run = run_playbook(
            playbook, stack.env(tmp_path / "unused", tmp_path / "reports"), inventory=inventory
        )
        assert not run.ok, run.stdout
        assert re.search(r"db-[ab] and db-[ab] are the same PostgreSQL\s+cluster", run.stdout), run.stdout[
            -3000:
        ]
    assert not list(tmp_path.glob("db-*/backups/backup_*.pgc"))
