#!/usr/bin/python
"""Ansible module: everything the drill checks about the newest backup, in one call.

Runs on the managed host: looks at the backup folder, picks the newest
backup_YYYYMMDD_HHMMSS.pgc (a checksum or manifest file without its archive counts, so a
deleted newest backup is noticed), computes its sha256, reads its .sha256 and
.manifest.json, and lists its table of contents with pg_restore. It never fails on what
it finds: the role's assertions judge the result in order (found, checksum, manifest,
table of contents) and explain each failure. pg_restore gets an argument list, no shell.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: readiness_backup_inspect
short_description: Inspect the newest backup of a folder (checksum, manifest, table of contents)
options:
  folder: {type: path, required: true, description: The backup folder.}
  pg_restore: {type: path, required: true, description: pg_restore of the server's major version.}
author: Readiness harness maintainers
"""

BACKUP = re.compile(r"^(backup_\d{8}_\d{6}\.pgc)(\.sha256|\.manifest\.json)?$")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path: str) -> tuple[str | None, str]:
    try:
        with open(path) as handle:
            return handle.read(), ""
    except OSError as exc:
        return None, str(exc)


def inspect(folder: str, pg_restore: str) -> dict[str, object]:
    result: dict[str, object] = {"folder": folder, "exists": os.path.isdir(folder)}
    if not result["exists"]:
        return result
    result["mode"] = f"{stat.S_IMODE(os.stat(folder).st_mode):04o}"
    names = {}
    for entry in os.listdir(folder):
        match = BACKUP.match(entry)
        if match and os.path.isfile(os.path.join(folder, entry)):
            names.setdefault(match.group(1), set()).add(match.group(2) or "")
    result["backups"] = sorted(name for name, parts in names.items() if "" in parts)
    if not names:
        return result
    newest = sorted(names)[-1]
    path = os.path.join(folder, newest)
    backup: dict[str, object] = {"name": newest, "file": path, "present": "" in names[newest]}
    result["backup"] = backup
    if not backup["present"]:
        return result
    info = os.stat(path)
    backup["size_bytes"] = info.st_size
    backup["modified_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(info.st_mtime))
    if info.st_size == 0:
        return result
    backup["sha256"] = _sha256(path)
    text, error = _read(path + ".sha256")
    backup["recorded_sha256"] = (text.split() or [""])[0].lower() if text is not None else None
    backup["checksum_error"] = error
    text, error = _read(path + ".manifest.json")
    manifest = None
    if text is not None:
        try:
            manifest = json.loads(text)
        except ValueError as exc:
            error = f"not JSON: {exc}"
    result["manifest"] = manifest
    result["manifest_error"] = error
    listed = subprocess.run([pg_restore, "--list", path], capture_output=True, text=True, check=False)
    entries = [line for line in listed.stdout.splitlines() if line.strip() and not line.startswith(";")]
    result["toc"] = {
        "rc": listed.returncode,
        "stderr": listed.stderr.strip()[-2000:],
        "entries": len(entries),
        "table_data": [
            fields[6]
            for fields in (line.split() for line in entries)
            if len(fields) >= 7 and fields[3:5] == ["TABLE", "DATA"]
        ],
    }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "folder": {"type": "path", "required": True},
            "pg_restore": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(changed=False, **inspect(module.params["folder"], module.params["pg_restore"]))
    except OSError as exc:
        module.fail_json(msg=f"cannot inspect {module.params['folder']}: {exc}")


if __name__ == "__main__":
    main()
