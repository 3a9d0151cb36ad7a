"""Fixtures for the Ansible role tests: one real PostgreSQL 18 + Redis for the whole
suite, seeded through the service's own schema and functions, and one good backup that
the drill tests copy into their own temporary directories.

Every playbook runs black-box through `readiness_harness.drill.run_playbook` (that is,
ansible-runner driving ansible-playbook); backups, snapshots and reports go to pytest's
temporary directories, never into the repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import testinfra
from roles_kit import SCHEMA, GoodBackup, Stack, backups_in, counts, fingerprint, seed, seed_bulk

from readiness_harness.drill.playbooks import PlaybookRun, run_playbook
from readiness_harness.target.embedded import embedded_servers


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with embedded_servers() as servers:
        with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
            conn.execute(SCHEMA.read_text())
            seed(conn, "seed")
            seed_bulk(conn, "bulk", 3000)
        yield Stack(
            servers=servers,
            database_url=servers.postgres.url,
            redis_url=servers.redis.url,
            bin_dir=servers.postgres.bin_dir,
        )


@pytest.fixture(scope="session")
def local_host() -> Any:
    return testinfra.get_host("local://")


@pytest.fixture(scope="session")
def first_backup(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[PlaybookRun, GoodBackup]:
    """The suite's first backup.yml run on the seeded database, and what it wrote."""
    backup_dir = tmp_path_factory.mktemp("first-backup") / "backups"
    state = fingerprint(stack)
    rows = counts(stack)
    run = run_playbook("backup", stack.env(backup_dir, tmp_path_factory.mktemp("reports")))
    assert run.ok, run.stdout
    (backup,) = backups_in(backup_dir)
    return run, GoodBackup(path=backup, fingerprint=state, counts=rows)


@pytest.fixture(scope="session")
def good_backup(first_backup: tuple[PlaybookRun, GoodBackup]) -> GoodBackup:
    """A good backup (with its .sha256) and the live data when it was taken; tests copy
    it into their own directories (its own directory is test_pg_backup's)."""
    return first_backup[1]
