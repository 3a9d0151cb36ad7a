"""The restore drill as the checklist sees it: playbook runs on every database host of the
fleet, and the evidence they leave, per host.

`DrillHarness` runs the backup and restore-drill playbooks once per session on every host
(in parallel, through ansible-runner), and once more, in one parallel run, on damaged
copies of each host's newest backup. The copies live in folders of mode 0700 made on the
host itself (through testinfra, so the same code reaches a remote host over ssh) and are
removed as soon as that run ends, whatever its outcome. It also reads each live database
(a digest of every table's rows, leftover scratch databases) so the steps can compare.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from readiness_harness.drill.damage import DAMAGES, damage_copy, host_of, make_private_folder, remove_folder
from readiness_harness.drill.playbooks import PlaybookRun, project_dir, read_drill_report, run_playbook
from readiness_harness.fleet.inventory import Fleet, FleetHost

FINGERPRINT = sql.SQL(
    "SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text FROM {}.{} AS t"
)
TABLES = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
    " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
)
SCRATCH = "SELECT datname FROM pg_database WHERE datname ~ '_drill_[0-9]{8}_[0-9]{6}$' ORDER BY 1"


class DrillNotPossible(Exception):
    """The target gives the harness no database to drill (the reason is the message)."""


@dataclass
class HostRun:
    """One host's part of a drill run: its report, its transcript and its live data."""

    host: FleetHost
    backup: PlaybookRun
    drill: PlaybookRun
    backup_dir: str
    """The folder the drill read, on the host."""
    report: dict[str, Any] | None
    live_before: dict[str, tuple[int, str]]
    live_after: dict[str, tuple[int, str]]
    damaged_backup: str | None = None
    """For a drill on a damaged copy: the newest backup's path as it was damaged."""

    @property
    def passed(self) -> bool:
        """The drill passed on this host: its report says so and no task failed there."""
        passed = bool(self.report and self.report.get("passed"))
        return passed and self.drill.recap(self.drill_host).get("failures", 0) == 0

    @property
    def drill_host(self) -> str:
        return str((self.report or {}).get("host") or self.host.name)

    @property
    def transcript(self) -> list[str]:
        """This host's transcript lines, without the `[host] ` prefix."""
        prefix = f"[{self.drill_host}] "
        return [line[len(prefix) :] for line in self.drill.stdout.splitlines() if line.startswith(prefix)]

    @property
    def required_report(self) -> dict[str, Any]:
        if self.report is None:
            raise AssertionError(
                f"the drill wrote no report for {self.host.name}; its output:\n{self.drill.stdout[-3000:]}"
            )
        return self.report

    @property
    def newest_backup(self) -> str:
        backup = self.required_report.get("backup") or {}
        if not backup.get("file"):
            raise AssertionError(f"the drill on {self.host.name} names no backup: {self.report}")
        return str(backup["file"])


def _host_reports(run: PlaybookRun) -> dict[str, dict[str, Any]]:
    published = run.artifact_data.get("restore_drill_reports") or {}
    reports: dict[str, dict[str, Any]] = {}
    if isinstance(published, dict):
        for host, path in published.items():
            with contextlib.suppress(Exception):
                reports[str(host)] = read_drill_report(str(path))
    return reports


@dataclass
class DrillHarness:
    """Backups and drills on every database host of `fleet`, with evidence per host."""

    fleet: Fleet
    reports_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    """Environment of every playbook run (DATABASE_URL, REDIS_URL, ... for the local fleet)."""
    temporary_backup_dir: Path | None = None
    """A backup folder the harness made for the embedded default (removed by cleanup)."""
    _passing: dict[str, HostRun] | None = None
    _damaged: dict[tuple[str, str], HostRun] | None = None
    _verify: PlaybookRun | None = None

    @classmethod
    def for_fleet(cls, fleet: Fleet, reports_dir: Path, env: dict[str, str] | None = None) -> DrillHarness:
        return cls(fleet, reports_dir, dict(env or {}))

    @classmethod
    def local(
        cls,
        database_url: str,
        redis_url: str,
        pg_bin_dir: str | None,
        reports_dir: Path,
        backup_path: Path | None = None,
    ) -> DrillHarness:
        """One local host: the embedded default, or DATABASE_URL/REDIS_URL (and BACKUP_PATH)."""
        temporary = None
        if backup_path is None:
            temporary = Path(tempfile.mkdtemp(prefix="readiness-backups-"))  # mode 0700
            backup_path = temporary
        from readiness_harness.fleet.inventory import local_fleet

        fleet = local_fleet(database_url, redis_url, str(backup_path), pg_bin_dir)
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BACKUP_PATH": str(backup_path)}
        if pg_bin_dir:
            env["PG_BIN_DIR"] = pg_bin_dir
        return cls(fleet, reports_dir, env, temporary)

    # --- the live databases ------------------------------------------------------------

    def fingerprint(self, host: FleetHost) -> dict[str, tuple[int, str]]:
        """Every table's row count and a digest of its rows: equal means unchanged."""
        if not host.database_url:
            raise DrillNotPossible(f"{host.name} has no readiness_database_url")
        result: dict[str, tuple[int, str]] = {}
        with psycopg.connect(host.database_url, connect_timeout=10) as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for schema, name in conn.execute(TABLES).fetchall():
                row = conn.execute(
                    FINGERPRINT.format(sql.Identifier(schema), sql.Identifier(name))
                ).fetchone()
                assert row is not None  # nosec B101 # type narrowing: an aggregate returns one row
                result[f"{schema}.{name}"] = (int(row[0]), str(row[1]))
        return result

    def scratch_databases(self, host: FleetHost) -> list[str]:
        """Scratch databases of drills on the host's cluster (there should be none)."""
        if not host.database_url:
            raise DrillNotPossible(f"{host.name} has no readiness_database_url")
        with psycopg.connect(host.database_url, connect_timeout=10) as conn:
            return [str(row[0]) for row in conn.execute(SCRATCH).fetchall()]

    # --- the drills ----------------------------------------------------------------------

    def _extravars(self, report_dir: Path) -> dict[str, Any]:
        return {"readiness_drill_report_dir": str(report_dir)}

    def passing_drill(self, host: FleetHost) -> HostRun:
        """Backup, then drill, on every host at once: run once per session."""
        if self._passing is None:
            before = {entry.name: self.fingerprint(entry) for entry in self.fleet.database_hosts}
            extravars = self._extravars(self.reports_dir / "drill")
            backup = run_playbook("backup", self.env, extravars, inventory=self.fleet.inventory)
            drill = run_playbook("restore_drill", self.env, extravars, inventory=self.fleet.inventory)
            reports = _host_reports(drill)
            self._passing = {
                entry.name: HostRun(
                    entry,
                    backup,
                    drill,
                    str(entry.backup_path),
                    reports.get(entry.name),
                    before[entry.name],
                    self.fingerprint(entry),
                )
                for entry in self.fleet.database_hosts
            }
        return self._passing[host.name]

    def drill_on_damaged_backup(self, host: FleetHost, damage: str) -> HostRun:
        """The drill on a copy of `host`'s newest backup, damaged as `damage` says.

        Every damage of every host is drilled in one parallel run the first time any is
        asked for; the copies are removed as soon as that run ends."""
        if damage not in DAMAGES:
            raise ValueError(f"unknown damage {damage!r}: one of {', '.join(DAMAGES)}")
        if self._damaged is None:
            self._damaged = self._drill_every_damage()
        return self._damaged[(host.name, damage)]

    def _drill_every_damage(self) -> dict[tuple[str, str], HostRun]:
        good = {entry.name: self.passing_drill(entry) for entry in self.fleet.database_hosts}
        before = {entry.name: self.fingerprint(entry) for entry in self.fleet.database_hosts}
        with contextlib.ExitStack() as stack:
            work = Path(tempfile.mkdtemp(prefix="readiness-damaged-"))  # mode 0700: holds secrets
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            pseudo: dict[str, tuple[FleetHost, str, str, str]] = {}
            for entry in self.fleet.database_hosts:
                newest = good[entry.name].newest_backup
                for damage in DAMAGES:
                    folder = make_private_folder(entry, f"readiness-{damage.replace(' ', '-')}-")
                    stack.callback(remove_folder, entry, folder)
                    copy = damage_copy(entry, newest, folder, damage)
                    pseudo[f"{entry.name}~{damage.replace(' ', '-')}"] = (entry, damage, folder, copy)
            inventory = work / "damaged.yml"
            inventory.write_text(yaml.safe_dump(self._damage_inventory(pseudo)))
            inventory.chmod(0o600)
            drill = run_playbook(
                "restore_drill",
                self.env,
                {**self._extravars(work / "reports"), "pg_client_check_unique_cluster": False},
                inventory=inventory,
                forks=max(5, len(pseudo)),
            )
            reports = _host_reports(drill)
        after = {entry.name: self.fingerprint(entry) for entry in self.fleet.database_hosts}
        return {
            (entry.name, damage): HostRun(
                entry,
                good[entry.name].backup,
                drill,
                folder,
                reports.get(name),
                before[entry.name],
                after[entry.name],
                damaged_backup=copy,
            )
            for name, (entry, damage, folder, copy) in pseudo.items()
        }

    def _damage_inventory(self, pseudo: dict[str, tuple[FleetHost, str, str, str]]) -> dict[str, Any]:
        """One inventory host per (host, damage): the real host's variables, the damaged
        copy as its backup folder, and a scratch database of its own."""
        hosts: dict[str, Any] = {}
        for name, (entry, damage, folder, _) in pseudo.items():
            variables = dict(entry.variables) if self.fleet.inventory else self._local_variables()
            variables.update(
                readiness_backup_path=folder,
                restore_drill_backup_dir=folder,
                restore_drill_scratch_prefix="readiness_" + damage.replace(" ", "_"),
            )
            if self.fleet.inventory is None:
                variables.setdefault("ansible_host", "localhost")
            hosts[name] = variables
        return {"all": {"children": {"database_primary": {"hosts": hosts}}}}

    def _local_variables(self) -> dict[str, Any]:
        local = yaml.safe_load((project_dir() / "inventory" / "local.yml").read_text())
        variables: dict[str, Any] = dict(local["all"]["vars"])
        variables.update(local["all"]["hosts"]["localhost"])
        return variables

    def verify_infra(self) -> PlaybookRun:
        """playbooks/verify_infra.yml on every host of the fleet (once per session)."""
        if self._verify is None:
            self._verify = run_playbook("verify_infra", self.env, inventory=self.fleet.inventory)
        return self._verify

    def retention(self, host: FleetHost) -> int:
        """The host's readiness_backup_retention (the local inventory's for the local host)."""
        value = host.variables.get("readiness_backup_retention") if self.fleet.inventory else None
        if value is None:
            value = self._local_variables().get("readiness_backup_retention", 7)
        return int(value)

    def backups_in(self, host: FleetHost, folder: str) -> list[str]:
        """The backup_*.pgc names in `folder` on the host, oldest first."""
        listed = host_of(host).run("find %s -maxdepth 1 -name 'backup_*.pgc' -printf '%%f\\n'", folder)
        if listed.rc != 0:
            raise AssertionError(f"cannot list {folder} on {host.name}: {listed.stderr.strip()}")
        return sorted(line for line in listed.stdout.splitlines() if line)

    def pruning_run(self, host: FleetHost, extra: int = 2) -> tuple[list[str], list[str], PlaybookRun]:
        """backup.yml on `host` into a private folder holding `extra` more old backups than
        the retention: the folder's backups before and after (the folder is removed)."""
        retention = self.retention(host)
        folder = make_private_folder(host, "readiness-retention-")
        try:
            for day in range(1, retention + extra + 1):
                name = f"{folder}/backup_2000{day // 28 + 1:02d}{day % 28 + 1:02d}_000000.pgc"
                host_of(host).run_expect(
                    [0], "touch -- %s %s %s", name, name + ".sha256", name + ".manifest.json"
                )
            before = self.backups_in(host, folder)
            run = run_playbook(
                "backup",
                self.env,
                {"pg_backup_dir": folder},
                inventory=self.fleet.inventory,
                limit=host.name,
            )
            return before, self.backups_in(host, folder), run
        finally:
            remove_folder(host, folder)

    def cleanup(self) -> None:
        if self.temporary_backup_dir is not None:
            shutil.rmtree(self.temporary_backup_dir, ignore_errors=True)


def fleet_summary(run: PlaybookRun) -> dict[str, Any] | None:
    """The run's summary (every host: passed, RTO, RPO, counts), when the drill wrote one."""
    path = run.artifact_data.get("restore_drill_summary")
    if not isinstance(path, str):
        return None
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data
