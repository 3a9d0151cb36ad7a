"""Outage lines against a deployment addressed only by its URL: the reference service and
its PostgreSQL and Redis run as separate processes (deployment_ctl.py), and the harness
stops and starts them only through the outage hooks it is given, only with
--allow-disruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

READINESS = str(Path(sys.executable).with_name("readiness"))
CTL = str(Path(__file__).with_name("deployment_ctl.py"))
RESILIENCE_LINES = ("database_outage", "redis_outage", "crash_recovery")


def write_hooks(path: Path, folder: Path, broken: str | None = None) -> Path:
    def hook(action: str, part: str) -> list[str]:
        if part == broken and action == "stop":
            return ["false"]
        return [sys.executable, CTL, str(folder), action, part]

    parts = {
        part: {"stop": hook("stop", part), "start": hook("start", part)}
        for part in ("database", "cache", "service")
    }
    path.write_text(yaml.safe_dump({**parts, "timeout_seconds": 120}))
    return path


def check(
    url: str, env_secrets: dict[str, str], output: Path, *options: str
) -> tuple[int, str, dict[str, object]]:
    env = {**{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}, **env_secrets}
    result = subprocess.run(
        [
            READINESS,
            "check",
            "--target-url",
            url,
            "--gateways",
            "standard",
            "-m",
            "resilience",
            "--output",
            str(output),
            *options,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    document_path = output / "readiness.json"
    document = json.loads(document_path.read_text()) if document_path.exists() else {}
    return result.returncode, result.stdout + result.stderr, document


def states(document: dict[str, object]) -> dict[str, str]:
    lines = document.get("lines", [])
    assert isinstance(lines, list)
    return {tag: line["state"] for line in lines for tag in RESILIENCE_LINES if tag in line["tags"]}


def test_outage_lines_run_through_the_hooks_and_leave_everything_running(
    deployment: tuple[str, Path], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, folder = deployment
    hooks = write_hooks(tmp_path / "hooks.yml", folder)
    code, output, document = check(
        url, target_secrets, tmp_path / "out", "--outage-hooks", str(hooks), "--allow-disruption"
    )
    assert states(document) == dict.fromkeys(RESILIENCE_LINES, "verified"), output[-4000:]
    assert code == 0, output[-3000:]
    status = httpx.get(f"{url}/status", timeout=10)
    assert status.status_code == 200, "every part stopped was started again"


def test_hooks_without_permission_measure_nothing(
    deployment: tuple[str, Path], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, folder = deployment
    hooks = write_hooks(tmp_path / "hooks.yml", folder)
    code, output, document = check(url, target_secrets, tmp_path / "out", "--outage-hooks", str(hooks))
    assert states(document) == dict.fromkeys(RESILIENCE_LINES, "not measured")
    assert "not --allow-disruption" in output
    assert code == 1


def test_a_failing_hook_fails_its_line_and_says_which_hook(
    deployment: tuple[str, Path], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, folder = deployment
    hooks = write_hooks(tmp_path / "hooks.yml", folder, broken="cache")
    code, output, document = check(
        url, target_secrets, tmp_path / "out", "--outage-hooks", str(hooks), "--allow-disruption"
    )
    assert states(document)["redis_outage"] == "failed"
    assert "the stop hook of the cache (false) exited 1" in output
    assert code == 1
