"""The security-scan line reads bandit's and pip-audit's JSON reports, offline.

The reports are made by the tools themselves: bandit runs on small files written here,
and pip-audit's dependency audit is written with pip-audit's own JSON formatter (a real
audit needs PyPI's vulnerability API, which a test cannot count on). The line runs
through `readiness check` against the reference service as a target for a clean report,
a vulnerable pin, and the same pin waived by id; the other rules are shown on the
reports directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from check_kit import RunCheck
from packaging.version import Version
from pip_audit._format.json import JsonFormat
from pip_audit._service.interface import ResolvedDependency, SkippedDependency, VulnerabilityResult

from readiness_harness.evidence.security_report import (
    VulnerabilityWaiver,
    age_problem,
    analysis_problems,
    judge_audit,
    load_security_report,
    load_vulnerability_waivers,
)

READINESS = str(Path(sys.executable).with_name("readiness"))
TODAY = date.today()
CLEAN_CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
RISKY_CODE = (
    "import requests\n\n\ndef fetch(url):\n    return requests.get(url)\n"  # B113: no timeout, medium
)


def _bandit(folder: Path, code: str) -> None:
    source = folder / "src"
    source.mkdir(exist_ok=True)
    (source / "module.py").write_text(code)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bandit",
            "-r",
            str(source),
            "-f",
            "json",
            "-o",
            str(folder / "bandit.json"),
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    (source / "module.py").unlink()
    source.rmdir()


def _audit(folder: Path, vulnerable: bool = False, skipped: bool = False) -> None:
    results: dict[object, list[VulnerabilityResult]] = {
        ResolvedDependency("httpx", Version("0.28.1")): [],
        ResolvedDependency("pyyaml", Version("6.0.4")): [],
    }
    if vulnerable:
        results[ResolvedDependency("jinja2", Version("3.1.2"))] = [
            VulnerabilityResult(
                "GHSA-h5c8-rqwp-cp95",
                "Jinja2 vulnerable to sandbox breakout through attr filter",
                [Version("3.1.3")],
                {"CVE-2024-22195"},
            )
        ]
    if skipped:
        results[
            SkippedDependency("internal-lib", "Dependency not found on PyPI and could not be audited")
        ] = []
    (folder / "pip-audit.json").write_text(
        JsonFormat(output_desc=False, output_aliases=True).format(results, [])
    )  # type: ignore[arg-type]


def _reports(tmp_path: Path, code: str = CLEAN_CODE, finished: datetime | None = None, **audit: bool) -> Path:
    folder = tmp_path / "security"
    folder.mkdir()
    _bandit(folder, code)
    _audit(folder, **audit)
    (folder / "scan.json").write_text(
        json.dumps({"finished_at": (finished or datetime.now(UTC)).isoformat()})
    )
    return folder


def _waivers(tmp_path: Path, expires: date) -> Path:
    path = tmp_path / "waivers.yml"
    path.write_text(
        "waivers: []\nvulnerabilities:\n  - id: CVE-2024-22195\n    reason: the service renders no "
        f"untrusted templates\n    owner: security@example.test\n    expires: {expires.isoformat()}\n"
    )
    return path


def test_a_clean_scan_passes_the_line(run_check: RunCheck, tmp_path: Path) -> None:
    run = run_check("security_scan", "--security-report", str(_reports(tmp_path)))
    assert run.state("security_scan") == "verified", run.output
    assert run.evidence("security_scan")["dependency_audit"]["dependencies"] == 2


def test_a_vulnerable_pin_in_the_report_fails_the_line(run_check: RunCheck, tmp_path: Path) -> None:
    run = run_check("security_scan", "--security-report", str(_reports(tmp_path, vulnerable=True)))
    assert run.state("security_scan") == "failed"
    assert "1 known vulnerability: jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in run.message(
        "security_scan"
    )


def test_a_vulnerability_waived_by_id_passes_and_the_waiver_is_evidence(
    run_check: RunCheck, tmp_path: Path
) -> None:
    run = run_check(
        "security_scan",
        "--security-report",
        str(_reports(tmp_path, vulnerable=True)),
        "--waivers",
        str(_waivers(tmp_path, TODAY + timedelta(days=30))),
    )
    assert run.state("security_scan") == "verified", run.output
    waived = run.evidence("security_scan")["dependency_audit"]["waived"]
    assert waived and "waived by security@example.test" in waived[0]


def test_an_expired_waiver_waives_nothing(tmp_path: Path) -> None:
    report = load_security_report(_reports(tmp_path, vulnerable=True))
    assert report.audit is not None
    waivers = load_vulnerability_waivers(_waivers(tmp_path, TODAY - timedelta(days=1)))
    verdict = judge_audit(report.audit, waivers, TODAY)
    assert verdict.open and not verdict.waived
    assert "expired waivers: GHSA-h5c8-rqwp-cp95" in verdict.problems[0]


def test_a_waiver_names_a_vulnerability_by_its_id_or_an_alias(tmp_path: Path) -> None:
    report = load_security_report(_reports(tmp_path, vulnerable=True))
    assert report.audit is not None
    for name in ("GHSA-h5c8-rqwp-cp95", "CVE-2024-22195"):
        waiver = VulnerabilityWaiver(name, "reason", "owner", TODAY)
        assert judge_audit(report.audit, [waiver], TODAY).waived
    assert judge_audit(report.audit, [VulnerabilityWaiver("CVE-2000-0001", "r", "o", TODAY)], TODAY).open


def test_a_dependency_the_audit_could_not_check_fails_it(tmp_path: Path) -> None:
    report = load_security_report(_reports(tmp_path, skipped=True))
    assert report.audit is not None
    problems = judge_audit(report.audit, [], TODAY).problems
    assert problems and "could not check 1 dependencies (first: internal-lib" in problems[0]


def test_a_medium_severity_finding_fails_the_static_analysis(tmp_path: Path) -> None:
    report = load_security_report(_reports(tmp_path, code=RISKY_CODE))
    assert report.analysis is not None
    problems = analysis_problems(report.analysis, "medium")
    assert problems and "B113" in problems[0]
    assert not analysis_problems(report.analysis, "high")


def test_a_scan_older_than_the_limit_fails(tmp_path: Path) -> None:
    report = load_security_report(_reports(tmp_path, finished=datetime.now(UTC) - timedelta(days=10)))
    problem = age_problem(report, 7, datetime.now(UTC))
    assert problem is not None and "finished 10 days ago" in problem and "scan.json finished_at" in problem
    assert age_problem(report, 14, datetime.now(UTC)) is None


def test_without_scan_json_the_age_is_bandits_own_time(tmp_path: Path) -> None:
    folder = _reports(tmp_path)
    (folder / "scan.json").unlink()
    report = load_security_report(folder)
    assert report.age_source == "bandit's generated_at"
    assert datetime.now(UTC) - report.finished_at < timedelta(minutes=10)


@pytest.mark.slow
def test_security_scan_says_so_when_pip_audit_could_check_nothing(tmp_path: Path) -> None:
    """A requirement PyPI does not know is skipped by pip-audit on any machine: the scan
    must not call that a clean audit (pip-audit itself says "No known vulnerabilities")."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("readiness-harness-no-such-package-xyz==1.0\n")
    result = subprocess.run(
        [READINESS, "security-scan", "--output", str(tmp_path / "out"), "--requirements", str(requirements)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "could not check any of the 1 pinned dependencies" in result.stderr
    manifest = json.loads((tmp_path / "out" / "scan.json").read_text())
    assert manifest["problems"] and not (tmp_path / "out" / "pip-audit.json").exists()
    assert (tmp_path / "out" / "bandit.json").exists()
