"""The load and performance testing lines judge a given --load-report: about this target,
recent, complete, and meeting the feature's thresholds; each broken condition fails them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.target.stack import EmbeddedDeployment

pytestmark = pytest.mark.slow


def _report(url: str, **changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "format": "readiness-load/1",
        "target": url,
        "mode": "one Locust master and 2 worker processes on this machine",
        "finished_at": datetime.now(UTC).isoformat(),
        "figures": {
            "requests": 10000,
            "succeeded": 9995,
            "server_errors": 0,
            "client_errors": 5,
            "no_answer": 0,
            "p50_ms": 40.0,
            "p99_ms": 900.0,
        },
        "exactly_once": {"held": True, "payments": 8000, "violations": 0, "first_violations": []},
        "checks": [{"name": "complete data", "passed": True, "detail": "10000 and 10000"}],
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            report[key] = {**report[key], **value}
        else:
            report[key] = value
    return report


def _lines(url: str, env: dict[str, str], tmp_path: Path, report: dict[str, Any]) -> dict[str, Any]:
    path = tmp_path / "load.json"
    path.write_text(json.dumps(report))
    readiness_json = tmp_path / "readiness.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(PROJECT_ROOT / "features" / "load_testing.feature"),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--target-url={url}",
            "--gateways=stripe",
            f"--load-report={path}",
            f"--readiness-json={readiness_json}",
            f"--reports-dir={tmp_path}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {line["scenario"]: line for line in json.loads(readiness_json.read_text())["lines"]}


@pytest.mark.parametrize(
    ("changes", "states", "message"),
    [
        ({}, ("verified", "verified"), ""),
        ({"target": "http://127.0.0.1:9"}, ("failed", "failed"), "not this run's target"),
        ({"figures": {"succeeded": 9890}}, ("failed", "failed"), "98.900% of 10000 deliveries succeeded"),
        ({"figures": {"p99_ms": 5200.0}}, ("failed", "failed"), "p99 latency 5.200s"),
        (
            {
                "exactly_once": {
                    "held": False,
                    "violations": 1,
                    "first_violations": ["stripe payment pi_1: x"],
                }
            },
            ("failed", "failed"),
            "exactly-once failed for 1 of 8000",
        ),
    ],
    ids=["good", "other-target", "low-success", "slow-p99", "exactly-once"],
)
def test_the_lines_judge_the_given_report(
    reference: EmbeddedDeployment,
    target_env: dict[str, str],
    tmp_path: Path,
    changes: dict[str, Any],
    states: tuple[str, str],
    message: str,
) -> None:
    lines = _lines(reference.url, target_env, tmp_path, _report(reference.url, **changes))
    load, performance = lines["Load testing completed"], lines["Performance testing completed"]
    assert (load["state"], performance["state"]) == states, (load, performance)
    if message:
        assert message in json.dumps(load["messages"]) + json.dumps(performance["messages"])
