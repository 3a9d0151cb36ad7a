"""`readiness daily` and `readiness weekly` as a user runs them: on the embedded default
(real Prometheus, Alertmanager, node_exporter), with a few drills of history; dated
Markdown and JSON reports with plots; a breach turns the exit code non-zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitoring_kit import write_history

from readiness_harness.monitoring.reviews import DAILY_CHECKS, WEEKLY_REVIEWS

REPOSITORY = Path(__file__).resolve().parents[2]
TIMEOUT_S = 300


def _job(kind: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "readiness_harness.cli.main", kind, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=REPOSITORY,
        check=False,
    )


def _report(folder: Path, kind: str) -> dict[str, Any]:
    [json_file] = sorted(folder.glob(f"{kind}_*.json"))
    assert json_file.with_suffix(".md").exists()
    report: dict[str, Any] = json.loads(json_file.read_text())
    return report


def test_weekly_on_the_embedded_default_reports_every_review_with_plots(tmp_path: Path) -> None:
    drills = tmp_path / "drill"
    write_history(
        drills, [(20, 30, 3600, True), (13, 31, 3400, True), (6, 32, 3500, True), (1, 33, 3300, True)]
    )
    result = _job("weekly", "--drill-reports", str(drills), "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(tmp_path / "out", "weekly")
    assert [check["name"] for check in report["checks"]] == list(WEEKLY_REVIEWS)
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["restore drill results"] == "ok" and statuses["performance metrics"] == "ok"
    assert statuses["security scan results"] == "ok", "bandit over the reference service: no open finding"
    plots = sorted(path.name.split("_", 2)[-1] for path in (tmp_path / "out").glob("weekly_*.svg"))
    assert plots == [
        "drill_rpo.svg",
        "drill_rto.svg",
        "errors_per_day.svg",
        "p99_latency_per_day.svg",
        "success_rate_per_day.svg",
    ]
    markdown = next((tmp_path / "out").glob("weekly_*.md")).read_text()
    assert "![drill_rto.svg](weekly_" in markdown
    assert "synthetic traffic" in markdown, "the report says the job made its own traffic"
    assert "bandit over reference_service" in markdown, "and that it ran the security scan itself"
    assert "no breach" in result.stdout


def test_a_failed_drill_in_the_history_makes_the_weekly_job_fail(tmp_path: Path) -> None:
    drills = tmp_path / "drill"
    write_history(drills, [(13, 31, 3400, True), (6, 32, 3500, True), (2, 33, 3300, False)])
    result = _job("weekly", "--drill-reports", str(drills), "--output", str(tmp_path / "out"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BREACH: restore drill results" in result.stdout
    report = _report(tmp_path / "out", "weekly")
    assert report["breaches"] == ["restore drill results"] and report["status"] == "breach"


def test_daily_on_the_embedded_default_verifies_a_fresh_backup_and_exits_by_its_breaches(
    tmp_path: Path,
) -> None:
    result = _job("daily", "--drill-reports", str(tmp_path / "drill"), "--output", str(tmp_path / "out"))
    report = _report(tmp_path / "out", "daily")
    assert [check["name"] for check in report["checks"]] == list(DAILY_CHECKS)
    statuses = {check["name"]: check for check in report["checks"]}
    assert statuses["backup verification"]["status"] == "ok", statuses["backup verification"]
    assert statuses["payment success rates"]["status"] == "ok", statuses["payment success rates"]
    assert statuses["system health checks"]["status"] == "ok", statuses["system health checks"]
    assert result.returncode == (1 if report["breaches"] else 0), result.stdout + result.stderr


def test_a_job_without_the_checklist_says_where_the_thresholds_live(tmp_path: Path) -> None:
    result = _job("daily", "--features-dir", str(tmp_path))
    assert result.returncode == 2 and "thresholds" in result.stdout
