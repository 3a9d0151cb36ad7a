"""The reference deployment's security scan, for the weekly review on the embedded default.

A deployment gives its newest scan (`--security-report`: pip-audit or bandit JSON, which
CI's weekly workflow produces). On the embedded default the deployment is this
repository's reference service, so the harness scans its code itself with bandit (with
the project's bandit configuration), offline, when the review first needs it. pip-audit
needs PyPI's vulnerability service, so it runs in CI (`.github/workflows/weekly.yml`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from readiness_harness.paths import PROJECT_ROOT

TIMEOUT_S = 300.0


class ScanError(RuntimeError):
    """The scan could not run; the message says why."""


def scan_reference_service(folder: Path) -> Path:
    """bandit over `reference_service/` as JSON in `folder`; its findings are the report's."""
    output = folder / "bandit.json"
    command = [
        sys.executable,
        "-m",
        "bandit",
        "-q",
        "-f",
        "json",
        "-o",
        str(output),
        "-c",
        str(PROJECT_ROOT / "pyproject.toml"),
        "-r",
        str(PROJECT_ROOT / "reference_service"),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScanError(f"bandit could not scan the reference service: {exc}") from exc
    # bandit exits 1 when it finds something: the review judges the findings
    if result.returncode not in (0, 1) or not output.exists():
        raise ScanError(
            f"bandit exited {result.returncode} without a report: {(result.stderr or result.stdout)[-500:]}"
        )
    return output
