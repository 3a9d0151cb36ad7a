"""One checklist run against a target by URL, as `readiness check` runs it (a pytest
process over features/), and what its readiness.json says about each line."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from variant_deployment import compiled_environment

from readiness_harness.paths import PROJECT_ROOT

RUN_TIMEOUT_S = 600.0
UNUSED_PLUGINS = ("cacheprovider", "schemathesis", "hypothesispytest", "testinfra", "locust", "anyio")
"""pytest plugins installed for other tests that no checklist line uses: not loading them
saves about a second of every run's start."""
JUDGED_EXITS = (0, 1)
"""pytest's exits for a run that judged every selected line (1: some failed); any other
(interrupted, internal error, usage error, nothing collected) leaves lines unjudged."""
TARGET_ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "BACKUP_PATH", "PG_BIN_DIR")
"""Variables the harness would read as the target's database, cache and backups."""


@dataclass(frozen=True)
class ChecklistRun:
    """What one run said: its exit code, the tail of its output, and its selected lines."""

    command: str
    returncode: int
    output: str
    lines: list[dict[str, Any]]

    def tagged(self, tag: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if tag in line["tags"]]

    def states(self) -> dict[str, str]:
        return {line["scenario"]: line["state"] for line in self.lines}

    def describe(self, tag: str) -> str:
        """Each line with the tag: its state and first messages (for assertion messages)."""
        return "; ".join(
            f"{line['scenario']}: {line['state']} {line['messages'][:2]}" for line in self.tagged(tag)
        )


@dataclass
class Runner:
    """Runs checklists in child processes it can stop (Ctrl-C ends every one of them)."""

    environment: Mapping[str, str] = field(repr=False)
    """The secrets the harness signs and reads with (the variants share them): never shown."""
    pycache: Path
    """Where the runs keep compiled modules (see `compiled_environment`)."""
    running: set[subprocess.Popen[str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def run(
        self,
        url: str,
        output: Path,
        *,
        gateways: tuple[str, ...],
        marker: str | None = None,
        paypal_port: int | None = None,
        hooks: Path | None = None,
        waivers: Path,
        attestations: Path,
    ) -> ChecklistRun:
        output.mkdir(parents=True, exist_ok=True)
        readiness_json = output / "readiness.json"
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(PROJECT_ROOT / "features"),
            f"--rootdir={PROJECT_ROOT}",
            "-c",
            str(PROJECT_ROOT / "pyproject.toml"),
            "-q",
            *[argument for plugin in UNUSED_PLUGINS for argument in ("-p", f"no:{plugin}")],
            f"--target-url={url}",
            f"--gateways={','.join(gateways)}",
            f"--readiness-json={readiness_json}",
            f"--reports-dir={output}",
            f"--waivers={waivers}",
            f"--attestations={attestations}",
        ]
        if marker:
            command += ["-m", marker]
        if paypal_port is not None:
            command += ["--paypal-sandbox", f"--paypal-sandbox-port={paypal_port}"]
        if hooks is not None:
            command += [f"--outage-hooks={hooks}", "--allow-disruption"]
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("READINESS_") and name not in TARGET_ENVIRONMENT
        }
        env.update(self.environment)
        env.update(compiled_environment(self.pycache))
        with self.lock:
            if self.closed:
                raise RuntimeError("the detection runs were stopped")
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            self.running.add(process)
        try:
            out, _ = process.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._stop(process)
            out, _ = process.communicate()
            raise AssertionError(
                f"the checklist run against {url} did not end within {RUN_TIMEOUT_S:.0f}s:\n{out[-3000:]}"
            ) from None
        finally:
            with self.lock:
                self.running.discard(process)
        shown = " ".join(command[3:])
        if process.returncode not in JUDGED_EXITS or "INTERNALERROR" in out:
            raise AssertionError(
                f"the checklist run against {url} broke (exit {process.returncode}) instead of "
                f"judging its lines; what it had recorded is not a verdict:\n{out[-3000:]}"
            )
        if not readiness_json.is_file():
            raise AssertionError(
                f"the checklist run against {url} (exit {process.returncode}) wrote no readiness.json:"
                f"\n{out[-3000:]}"
            )
        lines = json.loads(readiness_json.read_text())["lines"]
        return ChecklistRun(
            shown, process.returncode, out[-6000:], [line for line in lines if line["selected"]]
        )

    def close(self) -> None:
        """Stop every run still going: SIGTERM first, so each stops what it started."""
        with self.lock:
            self.closed = True
            running = list(self.running)
        for process in running:
            self._stop(process)

    @staticmethod
    def _stop(process: subprocess.Popen[str]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
