"""Steps for the security-scan line: the target's bandit and pip-audit reports, read offline.

On the embedded default the reports are the ones `readiness security-scan` wrote into
reports/security (make readiness runs it first); against a deployment, the folder given
by --security-report. Known vulnerabilities may be waived one by one (waivers file,
`vulnerabilities:`); an expired waiver waives nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, then

from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.evidence.security_report import (
    SecurityReport,
    SecurityReportError,
    load_security_report,
    load_vulnerability_waivers,
)
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.target import Target

SCAN_HINT = "`readiness security-scan` writes it (make readiness runs it first)"


@given("the target's security scan reports", target_fixture="security_report")
def _(
    readiness_target: Target, readiness_settings: HarnessSettings, record_evidence: Callable[[str, Any], None]
) -> SecurityReport:
    folder: Path = readiness_target.require("security_report")
    given_by_option = readiness_settings.given("security_report")
    if not folder.exists():
        if readiness_target.embedded and not given_by_option:
            not_measured(f"no security scan report in {folder}: {SCAN_HINT}", option="--security-report")
        raise AssertionError(f"{folder}: no such folder of security reports")
    try:
        report = load_security_report(folder)
    except SecurityReportError as exc:
        raise AssertionError(str(exc)) from exc
    problems = [str(problem) for problem in report.manifest.get("problems") or []]
    record_evidence(
        "security_report",
        {
            "folder": str(folder),
            "finished_at": report.finished_at.isoformat(),
            "age_from": report.age_source,
            "problems": problems,
        },
    )
    if readiness_target.embedded and not given_by_option and report.audit is None and problems:
        not_measured(
            f"the embedded default's dependency audit could not run on this machine: {problems[0]}",
            option="--security-report with the reports of a machine that reaches PyPI (CI's security job)",
        )
    return report


@then(parsers.parse("the scan finished at most {days:d} days ago"))
def _(security_report: SecurityReport, days: int) -> None:
    age = datetime.now(UTC) - security_report.finished_at
    assert age.total_seconds() <= days * 86400, (
        f"the security scan in {security_report.folder} finished {age.days} days ago "
        f"({security_report.finished_at:%Y-%m-%d}, from {security_report.age_source}); at most {days} "
        "days are accepted: scan again"
    )


@then(
    parsers.re(
        r"the static analysis read every file and found no issue of (?P<severity>low|medium|high)"
        r"(?: or high)? severity"
    )
)
def _(security_report: SecurityReport, severity: str, record_evidence: Callable[[str, Any], None]) -> None:
    analysis = security_report.analysis
    assert analysis is not None, (
        f"{security_report.folder} holds no static analysis report (bandit -f json): the scan is incomplete"
    )
    record_evidence(
        "static_analysis",
        {
            "report": analysis.path.name,
            "lines_of_code": analysis.lines_of_code,
            "findings": [str(finding) for finding in analysis.findings],
        },
    )
    assert not analysis.errors, (
        f"bandit could not analyse {len(analysis.errors)} file(s): {analysis.errors[:3]}"
    )
    blocking = analysis.at_least(severity)
    assert not blocking, (
        f"bandit found {len(blocking)} issue(s) of {severity} severity or above: "
        + "; ".join(str(finding) for finding in blocking[:5])
    )


@then("the dependency audit checked every dependency and found no known vulnerability that is not waived")
def _(
    security_report: SecurityReport,
    readiness_settings: HarnessSettings,
    record_evidence: Callable[[str, Any], None],
) -> None:
    audit = security_report.audit
    assert audit is not None, (
        f"{security_report.folder} holds no dependency audit (pip-audit -f json): the scan is incomplete"
    )
    try:
        waivers = load_vulnerability_waivers(readiness_settings.waivers_file)
    except SecurityReportError as exc:
        raise AssertionError(str(exc)) from exc
    today = date.today()
    waived, open_, expired = [], [], []
    for vulnerability in audit.vulnerabilities:
        covering = [waiver for waiver in waivers if waiver.covers(vulnerability)]
        valid = [waiver for waiver in covering if waiver.expires >= today]
        if valid:
            waived.append(f"{vulnerability} (waived by {valid[0].owner} until {valid[0].expires})")
        else:
            open_.append(str(vulnerability))
            if covering:
                expired.append(f"{vulnerability.id} (waiver expired {covering[0].expires})")
    record_evidence(
        "dependency_audit",
        {
            "report": audit.path.name,
            "dependencies": len(audit.audited),
            "skipped": [f"{name}: {why}" for name, why in audit.skipped][:20],
            "vulnerabilities": [str(v) for v in audit.vulnerabilities],
            "waived": waived,
        },
    )
    assert not audit.skipped, (
        f"the dependency audit could not check {len(audit.skipped)} of "
        f"{len(audit.skipped) + len(audit.audited)} dependencies (first: {audit.skipped[0][1]}): "
        "a dependency nobody checked is not known to be safe"
    )
    assert not open_, (
        f"{len(open_)} known vulnerabilit{'y' if len(open_) == 1 else 'ies'}: "
        + "; ".join(open_[:5])
        + (f"; expired waivers: {', '.join(expired)}" if expired else "")
        + ": upgrade, or waive each by id (waivers file, vulnerabilities:)"
    )
