"""Running checklist lines through `readiness check`, against the reference service as a
deployed target (the test session's embedded service, addressed by URL only); the
fixtures that use it are in conftest.py.

Each run copies the real feature files into its own folder, selects lines with `-m`,
and gives only the options the test names: what a user of a deployment would give.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.target.target import Target

READINESS = str(Path(sys.executable).with_name("readiness"))
CHECK_TIMEOUT_S = 300


@dataclass
class CheckRun:
    result: subprocess.CompletedProcess[str]
    document: dict[str, Any]

    @property
    def output(self) -> str:
        return self.result.stdout[-4000:] + self.result.stderr[-4000:]

    def line(self, tag: str) -> dict[str, Any]:
        found = [line for line in self.document.get("lines", []) if tag in line["tags"]]
        assert len(found) == 1, f"{len(found)} lines tagged {tag}:\n{self.output}"
        return found[0]

    def state(self, tag: str) -> str:
        return str(self.line(tag)["state"])

    def message(self, tag: str) -> str:
        return " | ".join(self.line(tag)["messages"])

    def evidence(self, tag: str) -> dict[str, Any]:
        evidence: dict[str, Any] = self.line(tag)["examples"][0]["evidence"]
        return evidence


RunCheck = Callable[..., CheckRun]


def target_environment(target: Target) -> dict[str, str]:
    """The environment a user gives `readiness check` for this deployment: its secrets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("READINESS_", "PAYPAL_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "BACKUP_PATH", "PG_BIN_DIR"):
        env.pop(name, None)
    env.update(target.secrets.service_environment())
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def check_runner(tmp_path: Path, readiness_target: Target) -> RunCheck:
    """`readiness check --target-url <the session's service> -m MARKER [options]` on a copy
    of the feature files; returns the process and readiness.json."""
    features = tmp_path / "features"
    shutil.copytree(PROJECT_ROOT / "features", features)
    runs = iter(range(1000))

    def run(
        marker: str, *options: str, target_url: str | None = None, env: dict[str, str] | None = None
    ) -> CheckRun:
        output = tmp_path / f"out-{next(runs)}"
        command: Sequence[str] = [
            READINESS,
            "check",
            "--features",
            str(features),
            "--output",
            str(output),
            "--target-url",
            target_url or readiness_target.url,
            "--gateways",
            "standard",
            "--waivers",
            str(tmp_path / "no-waivers.yml"),
            "-m",
            marker,
            *options,
        ]
        if readiness_target.ca_file is not None and target_url is None:
            command = [*command, "--ca-bundle", str(readiness_target.ca_file)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=CHECK_TIMEOUT_S,
            env={**target_environment(readiness_target), **(env or {})},
            cwd=tmp_path,
        )
        path = output / "readiness.json"
        document = json.loads(path.read_text()) if path.exists() else {}
        assert document, (
            f"readiness check wrote no readiness.json:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
        return CheckRun(result, document)

    return run
