"""Run the security scanners of the reference deployment and keep their JSON reports.

- bandit (static analysis, offline) over the service's code, with the project's bandit
  settings (`[tool.bandit]` in pyproject.toml) when it has them;
- pip-audit (known vulnerabilities) over the pinned requirements (constraints.txt),
  without resolving or installing anything (`--no-deps --disable-pip`). It asks PyPI's
  vulnerability API for every pin, so it needs that network access; a dependency it
  could not check is recorded, never counted as clean.

The folder gets `bandit.json`, `pip-audit.json` and `scan.json` (when the scan finished,
tool versions, the requirements' sha256, and what could not be done). A pip-audit run
that checked no dependency at all (no access to its vulnerability service) leaves no
`pip-audit.json`, only the reason in `scan.json`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from readiness_harness.paths import PROJECT_ROOT

SERVICE_CODE = (PROJECT_ROOT / "reference_service" / "cardpack_service",)
REQUIREMENTS = PROJECT_ROOT / "constraints.txt"
SCAN_TIMEOUT_S = 900.0


@dataclass
class ScanResult:
    folder: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _has_bandit_settings(pyproject: Path) -> bool:
    try:
        return "bandit" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=SCAN_TIMEOUT_S, cwd=PROJECT_ROOT
    )


def _tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stderr or result.stdout).strip()[-500:]


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def run_bandit(folder: Path, targets: tuple[Path, ...] = SERVICE_CODE) -> tuple[dict[str, Any], str | None]:
    report = folder / "bandit.json"
    command = [
        sys.executable,
        "-m",
        "bandit",
        "-r",
        *(str(t) for t in targets),
        "-f",
        "json",
        "-o",
        str(report),
        "-q",
    ]
    pyproject = PROJECT_ROOT / "pyproject.toml"
    if _has_bandit_settings(pyproject):
        command += ["-c", str(pyproject)]
    result = _run(command)
    entry: dict[str, Any] = {
        "tool": "bandit",
        "version": _version("bandit"),
        "targets": [
            str(t.relative_to(PROJECT_ROOT)) if t.is_relative_to(PROJECT_ROOT) else str(t) for t in targets
        ],
        "exit": result.returncode,
        "report": report.name,
    }
    # bandit exits 1 when it found issues (the report says which); anything else, or no
    # report, means it did not run.
    if result.returncode not in (0, 1) or not report.exists():
        report.unlink(missing_ok=True)
        return (
            entry,
            f"bandit did not run (exit {result.returncode}): {_tail(result)}",
        )
    return entry, None


def run_pip_audit(folder: Path, requirements: Path = REQUIREMENTS) -> tuple[dict[str, Any], str | None]:
    report = folder / "pip-audit.json"
    partial = folder / "pip-audit.partial"
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "-r",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--aliases",
        "on",
        "--progress-spinner",
        "off",
        "--output",
        str(partial),
    ]
    result = _run(command)
    entry: dict[str, Any] = {
        "tool": "pip-audit",
        "version": _version("pip-audit"),
        "requirements": requirements.name,
        "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "exit": result.returncode,
        "report": report.name,
    }
    try:
        document = json.loads(partial.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        partial.unlink(missing_ok=True)
        report.unlink(missing_ok=True)
        return (
            entry,
            f"pip-audit did not run (exit {result.returncode}): {_tail(result)}",
        )
    dependencies = document.get("dependencies") or []
    skipped = [dep for dep in dependencies if dep.get("skip_reason")]
    entry["dependencies"] = len(dependencies)
    entry["skipped"] = len(skipped)
    if dependencies and len(skipped) == len(dependencies):
        partial.unlink(missing_ok=True)
        report.unlink(missing_ok=True)
        entry["report"] = None
        return entry, (
            f"pip-audit could not check any of the {len(dependencies)} pinned dependencies (first: "
            f"{skipped[0]['skip_reason']}): it needs PyPI's vulnerability API "
            "(https://pypi.org/pypi/NAME/VERSION/json), which this machine cannot reach"
        )
    partial.replace(report)
    if skipped:
        return entry, f"pip-audit could not check {len(skipped)} of {len(dependencies)} dependencies"
    return entry, None


def security_scan(
    folder: Path, requirements: Path = REQUIREMENTS, targets: tuple[Path, ...] = SERVICE_CODE
) -> ScanResult:
    """Run both scanners into `folder` (created 0700) and write scan.json last."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = datetime.now(UTC)
    result = ScanResult(folder)
    bandit, problem = run_bandit(folder, targets)
    if problem:
        result.problems.append(problem)
    audit, problem = run_pip_audit(folder, requirements)
    if problem:
        result.problems.append(problem)
    result.manifest = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "scanners": [bandit, audit],
        "problems": result.problems,
    }
    _write_json(folder / "scan.json", result.manifest)
    return result
