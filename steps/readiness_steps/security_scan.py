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
    age_problem,
    analysis_problems,
    judge_audit,
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
    return report


@then(parsers.parse("the scan finished at most {days:d} days ago"))
def _(security_report: SecurityReport, days: int) -> None:
    problem = age_problem(security_report, days, datetime.now(UTC))
    assert problem is None, problem


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
    problems = analysis_problems(analysis, severity)
    assert not problems, "; ".join(problems)


@then("the dependency audit checked every dependency and found no known vulnerability that is not waived")
def _(
    security_report: SecurityReport,
    readiness_settings: HarnessSettings,
    readiness_target: Target,
    record_evidence: Callable[[str, Any], None],
) -> None:
    audit = security_report.audit
    problems = [str(problem) for problem in security_report.manifest.get("problems") or []]
    if (
        audit is None
        and problems
        and readiness_target.embedded
        and not readiness_settings.given("security_report")
    ):
        # judged after the static analysis, so a finding there still fails the line
        not_measured(
            f"the embedded default's dependency audit could not run on this machine: {problems[0]}",
            option="--security-report with the reports of a machine that reaches PyPI (CI's security job)",
        )
    assert audit is not None, (
        f"{security_report.folder} holds no dependency audit (pip-audit -f json): the scan is incomplete"
    )
    try:
        waivers = load_vulnerability_waivers(readiness_settings.waivers_file)
    except SecurityReportError as exc:
        raise AssertionError(str(exc)) from exc
    verdict = judge_audit(audit, waivers, date.today())
    record_evidence(
        "dependency_audit",
        {
            "report": audit.path.name,
            "dependencies": len(audit.audited),
            "skipped": list(verdict.skipped[:20]),
            "vulnerabilities": [str(v) for v in audit.vulnerabilities],
            "waived": list(verdict.waived),
        },
    )
    assert not verdict.problems, "; ".join(verdict.problems)
