"""playbooks/verify_infra.yml (role infra_verify): read-only checks, every problem listed."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from roles_kit import GoodBackup, Stack, copy_backup

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
