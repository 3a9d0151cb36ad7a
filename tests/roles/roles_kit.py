"""Helpers for the Ansible role tests: the stack under test, seeding, fingerprints of
the live data, and backup-directory helpers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from readiness_harness.drill.playbooks import PlaybookRun, run_playbook
from readiness_harness.target.embedded import EmbeddedServers

SCHEMA = Path(__file__).resolve().parents[2] / "reference_service" / "cardpack_service" / "schema.sql"
BACKUP_NAME = re.compile(r"^backup_\d{8}_\d{6}\.pgc$")
SEED_PURCHASES = (("black", 7), ("gold", 4), ("platinum", 2))  # 7*5 + 4*3 + 2*10 = 67 cards


@dataclass(frozen=True)
class Stack:
    servers: EmbeddedServers
    database_url: str
    redis_url: str
    bin_dir: Path

    def env(self, backup_dir: Path, report_dir: Path, **extra: str) -> dict[str, str]:
        """The environment a playbook run gets: the connection settings and our dirs."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BACKUP_PATH": str(backup_dir),
            "PG_BIN_DIR": str(self.bin_dir),
            "DRILL_REPORT_PATH": str(report_dir),
            **extra,
        }

    def connect(self, database: str | None = None) -> psycopg.Connection[tuple[Any, ...]]:
        url = self.database_url
        if database is not None:
            url = self.servers.postgres.admin_url(database)
        return psycopg.connect(url, autocommit=True)


@dataclass(frozen=True)
class GoodBackup:
    """A backup taken by backup.yml and the live data at that moment."""

    path: Path
    fingerprint: dict[str, Any]
    counts: dict[str, int]

    @property
    def checksum_file(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    @property
    def manifest_file(self) -> Path:
        return self.path.with_name(self.path.name + ".manifest.json")

    @property
    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.manifest_file.read_text())
        return data


def seed(conn: psycopg.Connection[tuple[Any, ...]], prefix: str) -> None:
    """Purchases with their cards, through the service's own capture function."""
    for pack_type, count in SEED_PURCHASES:
        for n in range(count):
            conn.execute(
                "SELECT * FROM record_capture('stripe', %s, 'payment.captured', %s, %s, %s, 500, 'usd')",
                (f"{prefix}-ev-{pack_type}-{n}", f"{prefix}-pi-{pack_type}-{n}", "u1", pack_type),
            )


def seed_bulk(conn: psycopg.Connection[tuple[Any, ...]], prefix: str, purchases: int) -> None:
    """`purchases` black-pack captures in one statement, so table data, not the schema,
    makes up most of a backup (a cut at 80% then falls in the data, as on a real database)."""
    conn.execute(
        "SELECT count(*) FROM generate_series(1, %s) AS g, LATERAL record_capture('stripe', "
        "%s || '-ev-' || g, 'payment.captured', %s || '-pi-' || g, 'u' || g %% 17, 'black', 500, 'usd')",
        (purchases, prefix, prefix),
    )


def fingerprint(stack: Stack, database: str | None = None) -> dict[str, Any]:
    """Row counts and a digest of every table's content: equal means unchanged."""
    tables = ("artists", "pack_types", "purchases", "cards", "webhook_events", "audit_log")
    query = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} AS t"
    )
    with stack.connect(database) as conn:
        return {table: conn.execute(query.format(sql.Identifier(table))).fetchone() for table in tables}


def counts(stack: Stack, database: str | None = None) -> dict[str, int]:
    query = sql.SQL("SELECT count(*) FROM {}")
    result: dict[str, int] = {}
    with stack.connect(database) as conn:
        for table in ("cards", "purchases", "artists"):
            row = conn.execute(query.format(sql.Identifier(table))).fetchone()
            assert row is not None
            result[table] = int(row[0])
    return result


def scratch_databases(stack: Stack) -> list[str]:
    with stack.connect() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
            ("%\\_drill\\_%",),
        ).fetchall()
    return [str(row[0]) for row in rows]


def backups_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if BACKUP_NAME.match(p.name))


def copy_backup(backup: Path, directory: Path) -> Path:
    """A backup directory (0700) holding a copy of `backup`, its checksum and manifest."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for suffix in ("", ".sha256", ".manifest.json"):
        source = backup.with_name(backup.name + suffix)
        shutil.copy2(source, directory / source.name)
    return directory / backup.name


def write_manifest(archive: Path, manifest: dict[str, Any], **changes: Any) -> None:
    """`manifest` (of another archive) rewritten for `archive`, with `changes` applied."""
    data = {**manifest, "archive": archive.name, **changes}
    archive.with_name(archive.name + ".manifest.json").write_text(json.dumps(data))


def table_counts(stack: Stack, database: str | None = None) -> dict[str, int]:
    """Every table's row count, named schema.table as the backup manifest names them."""
    with stack.connect(database) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
            " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
        ).fetchall()
        result: dict[str, int] = {}
        for schema, name in tables:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            ).fetchone()
            assert row is not None
            result[f"{schema}.{name}"] = int(row[0])
    return result


def drill(
    stack: Stack,
    tmp: Path,
    backup_dir: Path,
    env: dict[str, str] | None = None,
    **extravars: Any,
) -> PlaybookRun:
    """Run the restore drill on `backup_dir`, its reports under `tmp`."""
    return run_playbook(
        "restore_drill",
        {**stack.env(backup_dir, tmp / "reports"), **(env or {})},
        extravars=extravars or None,
    )


def sha256_line(path: Path, content: bytes | None = None) -> str:
    """`sha256sum` output for `path` (of `content` when given)."""
    data = path.read_bytes() if content is None else content
    return f"{hashlib.sha256(data).hexdigest()}  {path.name}\n"
