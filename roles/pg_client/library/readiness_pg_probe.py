#!/usr/bin/python
"""Ansible module: what the roles need to know about a host and its PostgreSQL, in one call.

Runs on the managed host and never fails on what it finds (the pg_client role's
assertions explain each problem in order):

1. which of the Python modules the roles import (psycopg or psycopg2, redis) are missing;
2. the server's version, cluster identity (system identifier) and address, asked through
   psycopg with the connection as keyword arguments (no connection string is built);
3. optionally, the first folder (given, or PATH then the usual per-version folders) whose
   pg_dump has the server's major version, and which required binaries it lacks.

Binaries are asked for their version with an argument list, never a shell.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.readiness_pg import connect, connection_arguments

DOCUMENTATION = r"""
module: readiness_pg_probe
short_description: Check a host's Python modules, its PostgreSQL server and client binaries
options:
  host: {type: str, required: true, description: Server host name, address or socket folder.}
  port: {type: int, default: 5432, description: Server port.}
  user: {type: str, required: true, description: Role to connect as.}
  password: {type: str, default: "", no_log: true, description: Password (empty for none).}
  dbname: {type: str, required: true, description: Database to connect to.}
  sslmode: {type: str, default: prefer, description: libpq sslmode.}
  application_name: {type: str, default: readiness-harness, description: application_name.}
  connect_timeout: {type: int, default: 10, description: Seconds to wait for the server.}
  python_modules: {type: list, elements: list, default: [], description: Alternatives that must import.}
  find_binaries: {type: bool, default: true, description: Look for client binaries.}
  bin_dir: {type: str, default: "", description: The folder to use; empty searches PATH, then search_dirs.}
  search_dirs: {type: list, elements: str, default: [], description: After PATH; {major} is replaced.}
  required_binaries: {type: list, elements: str, default: [], description: Binaries the folder must hold.}
author: Readiness harness maintainers
"""

QUERY = (
    "SELECT current_setting('server_version_num'),"
    " (SELECT system_identifier::text FROM pg_control_system()),"
    " coalesce(host(inet_server_addr()), 'socket'), current_setting('port')"
)


def _server(params: dict[str, object]) -> dict[str, object]:
    try:
        conn: Any = connect(params)
    except Exception as exc:
        return {"connected": False, "error": str(exc).strip()}
    try:
        cursor = conn.cursor()
        cursor.execute(QUERY)
        version, identifier, address, port = cursor.fetchone()
        return {
            "connected": True,
            "error": "",
            "server_version_num": int(version),
            "server_major": int(version) // 10000,
            "system_identifier": identifier,
            "server_address": f"{address}:{port}",
        }
    finally:
        conn.close()


def _binaries(params: dict[str, object], major: int) -> dict[str, object]:
    if params["bin_dir"]:
        folders = [str(params["bin_dir"])]
    else:
        path = [entry for entry in os.environ.get("PATH", "").split(":") if entry.startswith("/")]
        extra = [str(entry).replace("{major}", str(major)) for entry in params["search_dirs"]]
        folders = list(dict.fromkeys(path + extra))
    seen, found = [], None
    for folder in folders:
        pg_dump = os.path.join(folder, "pg_dump")
        if not os.access(pg_dump, os.X_OK):
            continue
        try:
            answer = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if answer.returncode != 0:
            continue
        version = answer.stdout.strip()
        seen.append(f"{pg_dump}: {version}")
        if found is None and re.search(rf"\) {major}([.]|devel|beta|rc)", version):
            found = folder
    missing = (
        [name for name in params["required_binaries"] if not os.access(os.path.join(found, name), os.X_OK)]
        if found
        else []
    )
    path_after = os.environ.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return {"searched": folders, "seen": seen, "found": found, "missing": missing, "path_after": path_after}


def main() -> None:
    module = AnsibleModule(
        argument_spec=connection_arguments(
            python_modules={"type": "list", "elements": "list", "default": []},
            find_binaries={"type": "bool", "default": True},
            bin_dir={"type": "str", "default": ""},
            search_dirs={"type": "list", "elements": "str", "default": []},
            required_binaries={"type": "list", "elements": "str", "default": []},
        ),
        supports_check_mode=True,
    )
    params = module.params
    missing = [
        " or ".join(alternatives)
        for alternatives in params["python_modules"]
        if not any(importlib.util.find_spec(str(name)) for name in alternatives)
    ]
    result: dict[str, object] = {
        "changed": False,
        "missing_modules": missing,
        "interpreter": sys.executable,
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "connected": False,
        "error": "not tried: Python modules are missing" if missing else "",
    }
    if not missing:
        result.update(_server(params))
        if result["connected"] and params["find_binaries"]:
            result["binaries"] = _binaries(params, int(result["server_major"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
