"""The daily and weekly checks on their file sources: drill history, backups, security
reports; thresholds read from the feature's tables; reports written dated, scrubbed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from monitoring_kit import write_backup, write_history

from readiness_harness.monitoring import reviews
from readiness_harness.monitoring.keymetrics import Window
from readiness_harness.monitoring.review_report import write_review
from readiness_harness.settings.secrets import Secret

FEATURE = Path(__file__).resolve().parents[2] / "features" / "monitoring.feature"
THRESHOLDS = reviews.thresholds_from_feature(FEATURE)
WEEK = Window(time.time() - 7 * 86400, time.time())
DAY = Window(time.time() - 86400, time.time())


def test_the_thresholds_are_the_features_and_only_once() -> None:
    assert THRESHOLDS.threshold("webhook processing success rate").value == pytest.approx(0.99)
    assert THRESHOLDS.number("backup verification", "h") == 26
    assert THRESHOLDS.number("restore drill results", "share") == pytest.approx(0.25)
    assert "payment success rates" not in THRESHOLDS.values, (
        "a row deferring to the key metrics repeats no number"
    )


def test_a_week_of_passed_drills_is_ok_and_plotted(tmp_path: Path) -> None:
    write_history(
        tmp_path, [(20, 30, 3600, True), (13, 31, 3500, True), (6, 31, 3550, True), (1, 32, 3400, True)]
    )
    check, warnings = reviews.check_drill_results(reviews.Sources(drill_dir=tmp_path), WEEK, THRESHOLDS)
    assert check.status == reviews.OK and not warnings, check.summary
    assert set(check.plots) == {"drill_rto.svg", "drill_rpo.svg"}
    assert all("<polyline" in svg for svg in check.plots.values())


def test_a_failed_drill_this_week_is_a_breach(tmp_path: Path) -> None:
    write_history(tmp_path, [(13, 30, 3600, True), (2, 31, 3500, False)])
    check, _ = reviews.check_drill_results(reviews.Sources(drill_dir=tmp_path), WEEK, THRESHOLDS)
    assert check.status == reviews.BREACH and "verify_data" in check.summary


def test_no_drill_this_week_is_a_breach(tmp_path: Path) -> None:
    write_history(tmp_path, [(20, 30, 3600, True)])
    check, _ = reviews.check_drill_results(reviews.Sources(drill_dir=tmp_path), WEEK, THRESHOLDS)
    assert check.status == reviews.BREACH and "no restore drill" in check.summary


def test_rto_growing_beyond_the_share_week_over_week_is_a_warning(tmp_path: Path) -> None:
    write_history(tmp_path, [(14, 30, 3600, True), (7.5, 30, 3600, True), (0.5, 45, 3500, True)])
    check, warnings = reviews.check_drill_results(reviews.Sources(drill_dir=tmp_path), WEEK, THRESHOLDS)
    assert check.status == reviews.WARNING and warnings and "50%" in warnings[0], warnings


def test_a_young_checked_backup_in_a_private_folder_is_ok(tmp_path: Path) -> None:
    write_backup(tmp_path / "b", age_hours=2)
    check = reviews.check_backups(
        reviews.Sources(backup_dir=tmp_path / "b", backup_retention=7), DAY, THRESHOLDS
    )
    assert check.status == reviews.OK, check.summary


@pytest.mark.parametrize(
    ("age", "good", "mode", "expected"),
    [(30, True, 0o700, "h old"), (1, False, 0o700, "does not match"), (1, True, 0o755, "readable by others")],
    ids=["too-old", "checksum-mismatch", "folder-open"],
)
def test_a_bad_backup_is_a_breach(tmp_path: Path, age: float, good: bool, mode: int, expected: str) -> None:
    folder = tmp_path / "b"
    write_backup(folder, age_hours=age, good=good)
    folder.chmod(mode)
    check = reviews.check_backups(reviews.Sources(backup_dir=folder), DAY, THRESHOLDS)
    assert check.status == reviews.BREACH and expected in check.summary, check.summary


def test_security_reports_of_pip_audit_and_bandit_are_read(tmp_path: Path) -> None:
    report = tmp_path / "security.json"
    report.write_text(
        json.dumps(
            {
                "pip_audit": {
                    "dependencies": [{"name": "jinja2", "version": "3.0", "vulns": [{"id": "GHSA-x"}]}]
                },
                "bandit": {
                    "results": [
                        {"test_id": "B602", "issue_severity": "HIGH", "filename": "a.py", "line_number": 3}
                    ]
                },
            }
        )
    )
    check = reviews.check_security_report(reviews.Sources(security_report=report), WEEK, THRESHOLDS)
    assert check.status == reviews.BREACH and "GHSA-x" in check.summary and "B602" in check.summary
    report.write_text(json.dumps({"dependencies": [{"name": "x", "version": "1", "vulns": []}]}))
    assert (
        reviews.check_security_report(reviews.Sources(security_report=report), WEEK, THRESHOLDS).status
        == reviews.OK
    )


def test_a_source_not_given_is_not_measured_and_says_which_option_gives_it() -> None:
    sources = reviews.Sources(hints={"security report": "--security-report"})
    check = reviews.check_security_report(sources, WEEK, THRESHOLDS)
    assert check.status == reviews.NOT_MEASURED and "--security-report" in check.summary


def test_the_report_is_dated_markdown_and_json_with_plots_and_no_secret(tmp_path: Path) -> None:
    secret = Secret("sk_live_never_in_a_report_123")
    write_history(tmp_path / "drill", [(6, 30, 3600, True), (1, 31, 3500, True)])
    review = reviews.weekly(reviews.Sources(drill_dir=tmp_path / "drill"), THRESHOLDS)
    review.checks[0].summary += f" (token {secret.reveal()})"
    written = write_review(review, tmp_path / "out")
    assert written.markdown.name.startswith("weekly_") and written.markdown.suffix == ".md"
    text = written.markdown.read_text()
    assert "![drill_rto.svg]" in text and secret.reveal() not in text
    data = json.loads(written.json.read_text())
    assert data["status"] == review.status and secret.reveal() not in written.json.read_text()
    assert {path.suffix for path in written.plots} == {".svg"} and all(
        path.exists() for path in written.plots
    )
