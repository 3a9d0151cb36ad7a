#!/usr/bin/python
"""Ansible module: a complete, snapshot-consistent pg_dump with a manifest and checksum.

Runs on the managed host. In one REPEATABLE READ transaction it exports a snapshot
(`pg_export_snapshot()`), starts `pg_dump --snapshot=<id>` on it and, while the dump runs,
counts every table's rows inside the same snapshot, so the counts are exactly the rows the
archive holds. The archive is written under a temporary name (mode 0600); only when pg_dump
succeeded and `pg_restore --list` can read its table of contents is it checksummed, its
manifest written and the archive renamed to its final name. The `.sha256` file comes last,
so a failed or partial dump never gets a checksum.

No shell is involved: pg_dump and pg_restore get argument lists, and the connection goes
to them through the environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
PGSSLMODE), never through a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.readiness_pg import NO_DRIVER, connect, connection_arguments, identifier

DOCUMENTATION = r"""
module: readiness_pg_dump
short_description: Snapshot-consistent custom-format pg_dump with per-table row counts
description:
  - Exports a snapshot in a transaction kept open for the whole dump, runs pg_dump --snapshot
    on it, counts every table inside the same snapshot, and writes the archive, a JSON
    manifest (counts, snapshot, cluster identity) and a sha256 file, in that order, each
    under a temporary name renamed into place.
options:
  host: {type: str, required: true, description: Server host name, address or socket folder.}
  port: {type: int, default: 5432, description: Server port.}
  user: {type: str, required: true, description: Role to connect as.}
  password: {type: str, default: "", no_log: true, description: Password (empty for none).}
  dbname: {type: str, required: true, description: Database to dump.}
  sslmode: {type: str, default: prefer, description: libpq sslmode.}
  application_name: {type: str, default: readiness-harness, description: application_name.}
  pg_bin_dir: {type: path, required: true, description: Folder with pg_dump and pg_restore.}
  dest: {type: path, required: true, description: Final path of the archive (must not exist).}
  extra_args: {type: list, elements: str, default: [], description: Extra pg_dump arguments.}
  checksum: {type: bool, default: true, description: Write <dest>.sha256 (sha256sum format).}
  manifest: {type: bool, default: true, description: Write <dest>.manifest.json.}
  connect_timeout: {type: int, default: 10, description: Seconds to wait for the server.}
  create_folder: {type: bool, default: false, description: Create the folder (mode 0700) if missing.}
  keep: {type: int, default: 0, description: Then keep only the newest N archives matching prune_pattern.}
  prune_pattern: {type: str, default: "", description: Regular expression of the names `keep` counts.}
author: Readiness harness maintainers
"""

RETURN = r"""
file: {description: The archive written, returned: always, type: str}
size_bytes: {description: Archive size, returned: success, type: int}
sha256: {description: Archive checksum, returned: success, type: str}
manifest: {description: The manifest (counts, snapshot, cluster identity), returned: success, type: dict}
"""


def _environment(params: dict[str, object]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(
        PGHOST=str(params["host"]),
        PGPORT=str(params["port"]),
        PGUSER=str(params["user"]),
        PGDATABASE=str(params["dbname"]),
        PGSSLMODE=str(params["sslmode"]),
        PGAPPNAME=str(params["application_name"]),
        PGCONNECT_TIMEOUT=str(params["connect_timeout"]),
    )
    if params["password"]:
        env["PGPASSWORD"] = str(params["password"])
    return env


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: str, content: str) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, path)


def _table_data(pg_restore: str, archive: str, env: dict[str, str]) -> tuple[set[str], int]:
    """(schema.table of every TABLE DATA entry, number of TOC entries) of `archive`."""
    listed = subprocess.run(
        [pg_restore, "--list", archive], capture_output=True, text=True, env=env, check=False
    )
    if listed.returncode != 0:
        raise RuntimeError(f"pg_restore --list cannot read the new archive: {listed.stderr.strip()}")
    entries = [line for line in listed.stdout.splitlines() if line.strip() and not line.startswith(";")]
    tables = set()
    for line in entries:
        fields = line.split()
        # "<id>; <oid> <oid> TABLE DATA <schema> <table> <owner>"
        if len(fields) >= 7 and fields[3:5] == ["TABLE", "DATA"]:
            tables.add(f"{fields[5]}.{fields[6]}")
    return tables, len(entries)


def _prune(folder: str, pattern: str, keep: int) -> list[str]:
    """Remove archives matching `pattern` beyond the newest `keep`, with their companions."""
    if keep < 1 or not pattern:
        return []
    names = sorted(name for name in os.listdir(folder) if re.fullmatch(pattern, name))
    removed = []
    for name in names[: max(len(names) - keep, 0)]:
        for suffix in ("", ".sha256", ".manifest.json"):
            path = os.path.join(folder, name + suffix)
            if os.path.lexists(path):
                os.unlink(path)
                removed.append(path)
    return removed


def run(module: AnsibleModule) -> dict[str, object]:
    params = module.params
    dest = params["dest"]
    folder = os.path.dirname(dest) or "."
    pg_dump = os.path.join(params["pg_bin_dir"], "pg_dump")
    pg_restore = os.path.join(params["pg_bin_dir"], "pg_restore")
    for binary in (pg_dump, pg_restore):
        if not os.access(binary, os.X_OK):
            module.fail_json(msg=f"{binary} is missing or not executable (pg_bin_dir)")
    if params["create_folder"] and not os.path.isdir(folder) and not module.check_mode:
        os.makedirs(folder, mode=0o700)
    if not os.path.isdir(folder):
        module.fail_json(msg=f"the backup folder {folder} does not exist")
    if os.path.lexists(dest):
        module.fail_json(msg=f"{dest} already exists: refusing to overwrite a backup")
    if module.check_mode:
        return {"changed": True, "file": dest}

    partial = os.path.join(folder, f".{os.path.basename(dest)}.partial-{os.getpid()}")
    written: list[str] = []
    env = _environment(params)
    started = time.time()
    conn: Any = connect(params)
    try:
        cursor = conn.cursor()
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(
            "SELECT pg_export_snapshot(), current_setting('server_version_num')::int,"
            " current_database(), host(inet_server_addr()), inet_server_port(),"
            " to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        )
        snapshot, version_num, database, server_addr, server_port, taken_at = cursor.fetchone()
        cursor.execute("SAVEPOINT identity")
        try:
            cursor.execute("SELECT system_identifier::text FROM pg_control_system()")
            system_identifier = cursor.fetchone()[0]
            cursor.execute("RELEASE SAVEPOINT identity")
        except Exception:  # no privilege to read pg_control: identity by address only
            cursor.execute("ROLLBACK TO SAVEPOINT identity")
            system_identifier = None
        cursor.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
            " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
        )
        tables = [(schema, name) for schema, name in cursor.fetchall()]

        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(descriptor)
        written.append(partial)
        argv = [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={partial}", "--no-password"]
        argv += list(params["extra_args"])
        dump = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        counts: dict[str, int] = {}
        try:
            for schema, name in tables:  # in the exported snapshot, while pg_dump runs
                cursor.execute(f"SELECT count(*) FROM {identifier(schema)}.{identifier(name)}")  # noqa: S608 - quoted identifiers from pg_class
                counts[f"{schema}.{name}"] = int(cursor.fetchone()[0])
        finally:
            _, stderr = dump.communicate()
        if dump.returncode != 0:
            raise RuntimeError(f"pg_dump exited {dump.returncode}: {stderr.decode(errors='replace').strip()}")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        in_archive, toc_entries = _table_data(pg_restore, partial, env)
        size = os.path.getsize(partial)
        checksum = _sha256(partial)
        manifest = {
            "format": "readiness-backup-manifest/1",
            "archive": os.path.basename(dest),
            "size_bytes": size,
            "sha256": checksum,
            "database": database,
            "server": {
                "address": server_addr or str(params["host"]),
                "port": server_port or params["port"],
                "system_identifier": system_identifier,
                "server_version_num": version_num,
            },
            "snapshot": snapshot,
            "taken_at": taken_at,
            "dump_seconds": round(time.time() - started, 3),
            "toc_entries": toc_entries,
            # Only tables whose data is in the archive: what a restore must bring back.
            "table_counts": {table: rows for table, rows in counts.items() if table in in_archive},
        }
        if params["manifest"]:
            _write_atomically(dest + ".manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            written.append(dest + ".manifest.json")
        os.rename(partial, dest)
        written[0] = dest
        if params["checksum"]:
            _write_atomically(dest + ".sha256", f"{checksum}  {os.path.basename(dest)}\n")
        pruned = _prune(folder, params["prune_pattern"], params["keep"])
        return {
            "changed": True,
            "file": dest,
            "size_bytes": size,
            "sha256": checksum,
            "manifest": manifest,
            "pruned": pruned,
        }
    except BaseException:
        for path in written:
            if os.path.lexists(path):
                os.unlink(path)
        raise
    finally:
        try:
            conn.cursor().execute("ROLLBACK")  # ends the exporting transaction: nothing was written
        finally:
            conn.close()


def main() -> None:
    module = AnsibleModule(
        argument_spec=connection_arguments(
            pg_bin_dir={"type": "path", "required": True},
            dest={"type": "path", "required": True},
            extra_args={"type": "list", "elements": "str", "default": []},
            checksum={"type": "bool", "default": True},
            manifest={"type": "bool", "default": True},
            create_folder={"type": "bool", "default": False},
            keep={"type": "int", "default": 0},
            prune_pattern={"type": "str", "default": ""},
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except ImportError:
        module.fail_json(msg=NO_DRIVER)
    except Exception as exc:
        module.fail_json(msg=f"{type(exc).__name__}: {str(exc).strip()}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
