"""Find and run `promtool`, Prometheus's checker for rule files and their unit tests.

promtool ships in Debian's `prometheus` package (`/usr/bin/promtool`); nothing here
downloads it. Both runners return the finished process so callers decide what a
non-zero exit means (a test that proves the rule tests *can* fail wants one).

    from readiness_harness.monitoring import promtool

    result = promtool.test_rules(Path("reference_service/monitoring/alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr

Import the module, not `test_rules` itself: a function named `test_*` imported into a
test module would be collected by pytest as a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VENV_PATH = Path(sys.executable).parent / "promtool"
"""Where `make` puts promtool (extracted from Debian's package) when PATH lacks it."""
FALLBACK_PATH = Path("/usr/bin/promtool")
"""Where Debian's `prometheus` package installs promtool, for when PATH lacks it."""

INSTALL_HINT = (
    "promtool was not found on PATH, in the venv or at /usr/bin/promtool: run "
    "`make .venv/bin/promtool` (extracts it from Debian's prometheus package), or "
    "apt-get install prometheus"
)

TIMEOUT_S = 120.0


class PromtoolNotFound(RuntimeError):
    """promtool is not installed; the message says how to install it."""


def find_promtool() -> Path | None:
    """promtool on PATH, else the venv's (where `make` extracts it), else Debian's
    `/usr/bin/promtool`, else None."""
    on_path = shutil.which("promtool")
    if on_path is not None:
        return Path(on_path)
    for candidate in (VENV_PATH, FALLBACK_PATH):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = find_promtool()
    if executable is None:
        raise PromtoolNotFound(INSTALL_HINT)
    return subprocess.run(
        [str(executable), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )


def check_rules(rules_file: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules FILE`: syntax, PromQL and duplicate-rule checks."""
    rules_file = rules_file.resolve()
    return _run("check", "rules", str(rules_file), cwd=rules_file.parent)


def test_rules(test_file: Path) -> subprocess.CompletedProcess[str]:
    """`promtool test rules FILE`: run the unit tests in FILE.

    promtool reads the test file's `rule_files` relative to the test file's folder;
    the run also starts there so relative paths mean the same either way."""
    test_file = test_file.resolve()
    return _run("test", "rules", str(test_file), cwd=test_file.parent)
