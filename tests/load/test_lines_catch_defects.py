"""The three gateway lines of issue 11 against the reference service run as a separate
target (by URL only), and against the same service behind one defect each: the line meant
to catch the defect fails, saying why, and the correct service passes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from defects import Defect, DefectiveProxy

from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.target.stack import EmbeddedDeployment

pytestmark = pytest.mark.slow


def _check(
    url: str, env: dict[str, str], tmp_path: Path, marker: str, gateways: str = "stripe,standard"
) -> dict[str, dict[str, object]]:
    """Run the lines tagged `marker` against `url`; their states by scenario (stripe example)."""
    readiness_json = tmp_path / "readiness.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(PROJECT_ROOT / "features"),
            "-p",
            "no:cacheprovider",
            "-q",
            "-m",
            marker,
            f"--target-url={url}",
            f"--gateways={gateways}",
            f"--readiness-json={readiness_json}",
            f"--reports-dir={tmp_path}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert readiness_json.is_file(), "the checklist run wrote no readiness.json"
    lines = json.loads(readiness_json.read_text())["lines"]
    return {line["scenario"]: line for line in lines if line["selected"]}


def _only(lines: dict[str, dict[str, object]]) -> dict[str, object]:
    assert len(lines) == 1, list(lines)
    return next(iter(lines.values()))


def test_the_reference_service_as_a_separate_target_passes_the_three_lines(
    reference: EmbeddedDeployment, target_env: dict[str, str], tmp_path: Path
) -> None:
    lines = _check(
        reference.url, target_env, tmp_path, "early_refund or processing_latency or processing_success_rate"
    )
    assert len(lines) == 3
    for line in lines.values():
        assert line["state"] == "verified", line


@pytest.mark.parametrize(
    ("defective", "marker", "expected"),
    [
        (Defect(drop_early_refunds=True), "early_refund", "the purchase reads 'active'"),
        (Defect(capture_delay_s=6.0), "processing_latency", "took 5s or more or failed"),
        (Defect(fail_every=30), "processing_success_rate", "answered 5xx, more than the 0 allowed"),
    ],
    indirect=["defective"],
    ids=["early-refund-dropped", "captures-take-6s", "a-few-percent-500"],
)
def test_each_line_fails_on_the_defect_it_names(
    defective: DefectiveProxy, target_env: dict[str, str], tmp_path: Path, marker: str, expected: str
) -> None:
    line = _only(_check(defective.url, target_env, tmp_path, marker, gateways="stripe"))
    assert line["state"] == "failed", line
    assert expected in json.dumps(line["messages"]), line["messages"]
