"""The load benchmark runs end to end at a tiny size: every section prints and every
delivery it sent is verified in the database. Its figures are not asserted on (they are
a benchmark's to print, not a test's to time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_load_benchmark_measures_and_verifies_every_section(tmp_path: Path) -> None:
    figures_file = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "load_benchmark.py"),
            "--seconds=1",
            "--requests=200",
            "--concurrency",
            "4",
            "--storms=2",
            "--storm-size=50",
            "--json",
            str(figures_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for section in ("(a) pgbench", "(b) signed webhooks", "(d) control", "(e) control", "storm  2"):
        assert section in result.stdout, f"{section!r} missing from:\n{result.stdout}"
    assert "RESULT: all deliveries verified" in result.stdout
    figures = json.loads(figures_file.read_text())
    level = figures["c4"]
    assert level["verified"] and level["non_2xx"] == 0
    assert level["pgbench_tps"] > 0 and level["webhook_rps"] > 0 and level["bare_app_rps"] > 0
    assert [storm["purchases"] for storm in figures["storms"]] == [1, 1]


def test_the_load_benchmark_explains_itself() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "load_benchmark.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "pgbench" in result.stdout and "--no-controls" in result.stdout
