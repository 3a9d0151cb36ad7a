"""`readiness security-scan`: bandit and pip-audit reports for the security-scan line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from readiness_harness.paths import PROJECT_ROOT

DEFAULT_OUTPUT = PROJECT_ROOT / "reports" / "security"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "security-scan",
        help="scan the service's code (bandit) and the pinned dependencies (pip-audit) into JSON reports",
        description="Static analysis of the reference service's code with bandit (offline) and a "
        "dependency audit of the pinned requirements with pip-audit (asks PyPI's vulnerability API), "
        "written as JSON with scan.json beside them. The checklist's security-scan line reads such a "
        "folder (--security-report PATH; on the embedded default, reports/security). Exit 0 when "
        "both scanners checked everything (findings are the line's to judge, with the waivers file), "
        "1 when a scanner could not run or could not check some dependencies.",
    )
    parser.add_argument(
        "--output",
        default=str(DEFAULT_OUTPUT),
        help="folder for bandit.json, pip-audit.json and scan.json (default: reports/security)",
    )
    parser.add_argument(
        "--requirements",
        default=str(PROJECT_ROOT / "constraints.txt"),
        help="pinned requirements to audit (default: constraints.txt)",
    )
    parser.set_defaults(handler=security_scan)


def security_scan(args: argparse.Namespace) -> int:
    from readiness_harness.evidence.scan import security_scan as run
    from readiness_harness.evidence.security_report import SecurityReportError, load_security_report

    requirements = Path(args.requirements).resolve()
    if not requirements.is_file():
        print(f"readiness security-scan: no requirements file at {requirements}", file=sys.stderr)
        return 2
    output = Path(args.output).resolve()
    print(
        f"[security-scan] bandit over the service's code, pip-audit over {requirements.name} -> {output}",
        flush=True,
    )
    result = run(output, requirements)
    try:
        report = load_security_report(output)
    except SecurityReportError as exc:
        print(f"readiness security-scan: {exc}", file=sys.stderr)
        return 1
    if report.analysis is not None:
        counts = {severity: 0 for severity in ("LOW", "MEDIUM", "HIGH")}
        for finding in report.analysis.findings:
            counts[finding.severity] += 1
        shown = ", ".join(f"{count} {severity.lower()}" for severity, count in counts.items())
        print(f"[security-scan] bandit: {report.analysis.lines_of_code} lines, findings: {shown}")
    if report.audit is not None:
        print(
            f"[security-scan] pip-audit: {len(report.audit.audited)} dependencies checked, "
            f"{len(report.audit.vulnerabilities)} known vulnerabilities"
        )
        for vulnerability in report.audit.vulnerabilities:
            print(f"  {vulnerability}")
    for problem in result.problems:
        print(f"readiness security-scan: {problem}", file=sys.stderr)
    return 0 if result.complete else 1
