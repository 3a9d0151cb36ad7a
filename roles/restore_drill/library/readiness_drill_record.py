#!/usr/bin/python
"""Ansible module: write the evidence of one drill run on every host, on the controller.

Run once per play (delegated to the controller) with every host's drill report, so one
process writes everything and parallel hosts never race on a shared file:

  drill_report_<host>_<time>.json   each host's report
  latest_<host>.json                symlink to that host's newest report
  <host>.prom                       node_exporter textfile: restore_drill_last_run_passed,
                                    restore_drill_last_success_timestamp_seconds,
                                    restore_drill_last_rto_seconds,
                                    restore_drill_last_rpo_seconds, labelled by host
  history.jsonl                     one JSON object appended per host and drill
  fleet_<time>.json                 the run's summary (every host: passed, RTO, RPO, counts)
  latest.json                       symlink to the only host's report, or to the summary

Files are written under a temporary name and renamed into place; history.jsonl is
appended under an exclusive lock. A host that has no report (unreachable, or failed before
the drill began) is recorded as failed with that reason, so no host is ever left out.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: readiness_drill_record
short_description: Write drill reports, history, node_exporter textfiles and the fleet summary
options:
  report_dir: {type: path, required: true, description: Folder on the controller for the evidence.}
  reports: {type: dict, required: true, description: Host name -> its drill report (null when none).}
  stamp: {type: str, required: true, description: YYYYMMDD_HHMMSS of the run, used in file names.}
author: Readiness harness maintainers
"""

METRICS = (
    ("restore_drill_last_run_passed", "1 if the most recent restore drill on this host passed, else 0."),
    (
        "restore_drill_last_success_timestamp_seconds",
        "Unix time of the last passing restore drill on this host; 0 if none has passed yet.",
    ),
    ("restore_drill_last_rto_seconds", "Restore time (RTO) measured by the most recent drill on this host."),
    ("restore_drill_last_rpo_seconds", "Age of the newest restored data (RPO) in the most recent drill."),
)


def slug(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", host)


def write_atomically(path: str, content: str, mode: int = 0o644) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.rename(temporary, path)


def link(target: str, path: str) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.rename(temporary, path)


def epoch(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def previous_success(prom_file: str, host: str) -> float:
    """The last success time recorded in an earlier textfile of this host (0 when none)."""
    try:
        with open(prom_file) as handle:
            text = handle.read()
    except OSError:
        return 0.0
    pattern = rf'^restore_drill_last_success_timestamp_seconds\{{host="{re.escape(host)}"\}} (\S+)$'
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def label(host: str) -> str:
    return host.replace("\\", "\\\\").replace('"', '\\"')


def textfile(host: str, report: dict[str, object], last_success: float) -> str:
    values = (
        1 if report.get("passed") else 0,
        last_success,
        report.get("rto_seconds"),
        report.get("rpo_seconds"),
    )
    lines = []
    for (name, description), value in zip(METRICS, values, strict=True):
        lines += [f"# HELP {name} {description}", f"# TYPE {name} gauge"]
        shown = "NaN" if value is None else repr(float(value))
        lines.append(f'{name}{{host="{label(host)}"}} {shown}')
    return "\n".join(lines) + "\n"


def missing_report(host: str, now: str) -> dict[str, object]:
    return {
        "passed": False,
        "host": host,
        "finished_at": now,
        "counts": None,
        "rto_seconds": None,
        "rpo_seconds": None,
        "backup": None,
        "failure": {
            "check": "host",
            "task": "",
            "file": "",
            "reason": f"{host} reported no drill: it was unreachable or failed before the drill began",
            "remedy": "Read the errors for this host above (connection, Python, permissions), "
            "fix them and rerun.",
        },
    }


def record(report_dir: str, reports: dict[str, object], stamp: str) -> dict[str, object]:
    os.makedirs(report_dir, mode=0o755, exist_ok=True)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary: dict[str, object] = {}
    history: list[str] = []
    lines: list[str] = []
    files: dict[str, str] = {}
    for host in sorted(reports):
        report = reports[host] if isinstance(reports[host], dict) else missing_report(host, now)
        name = slug(host)
        report_file = os.path.join(report_dir, f"drill_report_{name}_{stamp}.json")
        report = {**report, "report_file": report_file}
        write_atomically(report_file, json.dumps(report, indent=2) + "\n")
        link(os.path.basename(report_file), os.path.join(report_dir, f"latest_{name}.json"))
        files[host] = report_file
        prom_file = os.path.join(report_dir, f"{name}.prom")
        finished = epoch(str(report.get("finished_at") or now)) or 0.0
        last_success = finished if report.get("passed") else previous_success(prom_file, host)
        write_atomically(prom_file, textfile(host, report, last_success))
        failure = report.get("failure") if isinstance(report.get("failure"), dict) else None
        backup = report.get("backup") if isinstance(report.get("backup"), dict) else {}
        entry = {
            "finished_at": report.get("finished_at") or now,
            "host": host,
            "backup": backup.get("name") if backup else None,
            "rto_seconds": report.get("rto_seconds"),
            "rpo_seconds": report.get("rpo_seconds"),
            "counts": report.get("counts"),
            "passed": bool(report.get("passed")),
            "failure": {"check": failure.get("check"), "reason": failure.get("reason")} if failure else None,
        }
        history.append(json.dumps(entry, sort_keys=True))
        summary[host] = {**entry, "report_file": report_file}
        counts = report.get("counts") if isinstance(report.get("counts"), dict) else {}
        shown_counts = ", ".join(f"{table} {rows}" for table, rows in counts.items()) or "no counts"
        if entry["passed"]:
            lines.append(
                f"{host}: PASSED, RTO {entry['rto_seconds']} s, RPO {entry['rpo_seconds']} s, {shown_counts}"
            )
        else:
            reason = failure.get("reason") if failure else "unknown"
            lines.append(f"{host}: FAILED at {failure.get('check') if failure else '?'}: {reason}")
    history_file = os.path.join(report_dir, "history.jsonl")
    descriptor = os.open(history_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with os.fdopen(descriptor, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        handle.write("".join(line + "\n" for line in history))
        handle.flush()
        os.fsync(handle.fileno())
    failed = [host for host, entry in summary.items() if not entry["passed"]]
    fleet_file = os.path.join(report_dir, f"fleet_{stamp}.json")
    fleet = {"passed": not failed, "finished_at": now, "hosts": summary, "failed_hosts": failed}
    write_atomically(fleet_file, json.dumps(fleet, indent=2) + "\n")
    latest_target = files[next(iter(files))] if len(files) == 1 else fleet_file
    link(os.path.basename(latest_target), os.path.join(report_dir, "latest.json"))
    return {
        "changed": True,
        "passed": not failed,
        "failed_hosts": failed,
        "reports": files,
        "summary_file": fleet_file,
        "latest": latest_target,
        "history_file": history_file,
        "lines": lines,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "report_dir": {"type": "path", "required": True},
            "reports": {"type": "dict", "required": True},
            "stamp": {"type": "str", "required": True},
        },
        supports_check_mode=False,
    )
    params = module.params
    if not re.fullmatch(r"\d{8}_\d{6}", params["stamp"]):
        module.fail_json(msg=f"stamp must be YYYYMMDD_HHMMSS, got {params['stamp']!r}")
    try:
        result = record(params["report_dir"], params["reports"], params["stamp"])
    except OSError as exc:
        module.fail_json(msg=f"cannot write the drill evidence in {params['report_dir']}: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
