"""The restore drill as the checklist sees it: playbook runs and the evidence they leave.

`DrillHarness` runs the backup and restore-drill playbooks (through ansible-runner)
against the target's PostgreSQL and Redis, once per session for the passing drill, and
again on a damaged copy of the newest backup for the failing one. It also reads the live
database (counts, leftover scratch databases) so the steps can compare.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from readiness_harness.drill.playbooks import PlaybookRun, run_playbook

DAMAGES = ("corrupted", "truncated", "empty", "missing")


class DrillNotPossible(Exception):
    """The target gives the harness no database to drill (the reason is the message)."""


@dataclass
class DrillRun:
    backup: PlaybookRun
    drill: PlaybookRun
    backup_dir: Path
    live_counts_before: dict[str, int]
    live_counts_after: dict[str, int]
    damaged_backup: Path | None = None
    """For a drill on a damaged copy: the newest backup as it was damaged (maybe deleted)."""

    @property
    def report(self) -> dict[str, Any]:
        if self.drill.report is None:
            raise AssertionError(f"the drill wrote no report; its output:\n{self.drill.stdout[-3000:]}")
        return self.drill.report

    @property
    def newest_backup(self) -> Path:
        backups = sorted(self.backup_dir.glob("backup_*.pgc"))
        if not backups:
            raise AssertionError(f"no backup_*.pgc in {self.backup_dir}")
        return backups[-1]


@dataclass
class DrillHarness:
    database_url: str
    redis_url: str
    pg_bin_dir: str | None
    reports_dir: Path
    backup_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="readiness-backups-")))
    _passing: DrillRun | None = None
    _damaged: list[Path] = field(default_factory=list)
    """The folders of the damaged copies (copies of the target's newest backup: its data)."""

    def env(self, backup_dir: Path, report_dir: Path | None = None) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BACKUP_PATH": str(backup_dir),
            "DRILL_REPORT_PATH": str(report_dir or self.reports_dir / "drill"),
        }
        if self.pg_bin_dir:
            env["PG_BIN_DIR"] = self.pg_bin_dir
        return env

    def live_counts(self) -> dict[str, int]:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM cards), (SELECT count(*) FROM purchases),"
                " (SELECT count(*) FROM artists)"
            ).fetchone()
        assert row is not None  # nosec B101 # type narrowing: a SELECT of scalar subqueries has one row
        return {"cards": int(row[0]), "purchases": int(row[1]), "artists": int(row[2])}

    def scratch_databases(self) -> list[str]:
        """Databases a drill created and did not drop (there should be none)."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", ("%\\_drill\\_%",)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def passing_drill(self) -> DrillRun:
        """Backup, then drill: run once per session and shared by the scenarios."""
        if self._passing is None:
            before = self.live_counts()
            backup = run_playbook("backup", self.env(self.backup_dir))
            drill = run_playbook("restore_drill", self.env(self.backup_dir))
            self._passing = DrillRun(backup, drill, self.backup_dir, before, self.live_counts())
        return self._passing

    def drill_on_damaged_backup(self, damage: str) -> DrillRun:
        """The drill on a copy of the backups whose newest file is `damage`d."""
        if damage not in DAMAGES:
            raise ValueError(f"unknown damage {damage!r}: one of {', '.join(DAMAGES)}")
        source = self.passing_drill().newest_backup
        folder = Path(tempfile.mkdtemp(prefix=f"readiness-{damage}-backups-"))
        self._damaged.append(folder)
        folder.chmod(0o700)
        target = folder / source.name
        checksum = source.with_name(source.name + ".sha256")
        shutil.copy2(source, target)
        if checksum.exists():
            shutil.copy2(checksum, folder / checksum.name)
        data = target.read_bytes()
        if damage == "corrupted":
            middle = len(data) // 2
            target.write_bytes(
                data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]
            )
        elif damage == "truncated":
            target.write_bytes(data[: len(data) // 3])
        elif damage == "empty":
            target.write_bytes(b"")
        else:
            target.unlink()
        before = self.live_counts()
        # Deliberately failing drills report beside their damaged copy, never over
        # reports/drill/latest.json, which belongs to the real drill.
        drill = run_playbook("restore_drill", self.env(folder, folder / "reports"))
        return DrillRun(
            self.passing_drill().backup, drill, folder, before, self.live_counts(), damaged_backup=target
        )

    def cleanup(self) -> None:
        """Remove the backups and every damaged copy: they hold the target's data."""
        for folder in [self.backup_dir, *self._damaged]:
            shutil.rmtree(folder, ignore_errors=True)
