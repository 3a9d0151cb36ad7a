"""Security scan reports: bandit's static analysis and pip-audit's dependency audit, as JSON.

A report folder holds the JSON files the scanners wrote (any names: each file is known by
its shape) and, when `readiness security-scan` wrote it, `scan.json` with the time the
scan finished and what it could not do. Known vulnerabilities may be waived one by one in
the waivers file, by id or alias, with a reason, an owner and an expiry:

    vulnerabilities:
      - id: GHSA-xxxx-xxxx-xxxx        # or PYSEC-..., CVE-...
        reason: "not reachable: we never parse untrusted TOML"
        owner: "security@example.com"
        expires: 2027-01-31

Nothing here reaches the network: the reports are read as they were written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = ("LOW", "MEDIUM", "HIGH")
MANIFEST = "scan.json"


class SecurityReportError(ValueError):
    """A report that cannot be read as a scanner's JSON; the message says which and why."""


@dataclass(frozen=True)
class Vulnerability:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def __str__(self) -> str:
        fix = f" (fixed in {', '.join(self.fix_versions)})" if self.fix_versions else " (no fix yet)"
        return f"{self.package} {self.version}: {self.id}{fix}"


@dataclass(frozen=True)
class DependencyAudit:
    path: Path
    audited: tuple[tuple[str, str], ...]
    """(package, version) of every dependency the audit checked."""
    skipped: tuple[tuple[str, str], ...]
    """(package, why) of every dependency it could not check."""
    vulnerabilities: tuple[Vulnerability, ...]


@dataclass(frozen=True)
class Finding:
    test_id: str
    severity: str
    confidence: str
    text: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.test_id} {self.severity.lower()} severity: {self.text}"


@dataclass(frozen=True)
class StaticAnalysis:
    path: Path
    generated_at: datetime | None
    findings: tuple[Finding, ...]
    errors: tuple[str, ...]
    """Files bandit could not analyse (an incomplete scan)."""
    lines_of_code: int

    def at_least(self, severity: str) -> list[Finding]:
        floor = SEVERITIES.index(severity.upper())
        return [finding for finding in self.findings if SEVERITIES.index(finding.severity) >= floor]


@dataclass
class SecurityReport:
    folder: Path
    audit: DependencyAudit | None = None
    analysis: StaticAnalysis | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    """JSON files of the folder that are neither report."""

    @property
    def finished_at(self) -> datetime:
        """When the scan ran: scan.json's time, else bandit's, else the newest report file's."""
        stamp = self.manifest.get("finished_at")
        if isinstance(stamp, str):
            return _parse_time(stamp, self.folder / MANIFEST)
        if self.analysis is not None and self.analysis.generated_at is not None:
            return self.analysis.generated_at
        paths = [report.path for report in (self.audit, self.analysis) if report is not None]
        newest = max((path.stat().st_mtime for path in paths), default=self.folder.stat().st_mtime)
        return datetime.fromtimestamp(newest, UTC)

    @property
    def age_source(self) -> str:
        if isinstance(self.manifest.get("finished_at"), str):
            return f"{MANIFEST} finished_at"
        if self.analysis is not None and self.analysis.generated_at is not None:
            return "bandit's generated_at"
        return "the report files' modification time"


def _parse_time(value: str, where: Path) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SecurityReportError(f"{where}: {value!r} is not an ISO 8601 time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _audit(path: Path, document: dict[str, Any]) -> DependencyAudit:
    audited, skipped, vulnerabilities = [], [], []
    for entry in document.get("dependencies") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise SecurityReportError(f"{path}: a dependency entry without a name: {entry!r}")
        name = str(entry["name"])
        if entry.get("skip_reason"):
            skipped.append((name, str(entry["skip_reason"])))
            continue
        version = str(entry.get("version", "?"))
        audited.append((name, version))
        for vuln in entry.get("vulns") or []:
            vulnerabilities.append(
                Vulnerability(
                    name,
                    version,
                    str(vuln.get("id")),
                    tuple(str(alias) for alias in vuln.get("aliases") or []),
                    tuple(str(fix) for fix in vuln.get("fix_versions") or []),
                )
            )
    return DependencyAudit(path, tuple(audited), tuple(skipped), tuple(vulnerabilities))


def _analysis(path: Path, document: dict[str, Any]) -> StaticAnalysis:
    findings = []
    for result in document.get("results") or []:
        severity = str(result.get("issue_severity", "")).upper()
        if severity not in SEVERITIES:
            raise SecurityReportError(f"{path}: a result with severity {severity!r}: {result!r}")
        findings.append(
            Finding(
                str(result.get("test_id")),
                severity,
                str(result.get("issue_confidence", "")).upper(),
                str(result.get("issue_text", "")),
                f"{result.get('filename')}:{result.get('line_number')}",
            )
        )
    errors = tuple(
        f"{error.get('filename')}: {error.get('reason')}" if isinstance(error, dict) else str(error)
        for error in document.get("errors") or []
    )
    totals = (document.get("metrics") or {}).get("_totals") or {}
    generated = document.get("generated_at")
    return StaticAnalysis(
        path,
        _parse_time(str(generated), path) if generated else None,
        tuple(findings),
        errors,
        int(totals.get("loc", 0) or 0),
    )


def load_security_report(folder: Path) -> SecurityReport:
    """The reports in `folder` (a folder of JSON files, or one JSON file)."""
    files = [folder] if folder.is_file() else sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        raise SecurityReportError(
            f"{folder}: no JSON security reports there (bandit -f json, pip-audit -f json)"
        )
    report = SecurityReport(folder if folder.is_dir() else folder.parent)
    for path in files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SecurityReportError(f"{path}: not readable JSON: {exc}") from exc
        if path.name == MANIFEST and isinstance(document, dict):
            report.manifest = document
        elif isinstance(document, dict) and "dependencies" in document:
            report.audit = _audit(path, document)
        elif isinstance(document, dict) and "results" in document and "metrics" in document:
            report.analysis = _analysis(path, document)
        else:
            report.ignored.append(path.name)
    return report


@dataclass(frozen=True)
class VulnerabilityWaiver:
    id: str
    reason: str
    owner: str
    expires: date

    def covers(self, vulnerability: Vulnerability) -> bool:
        return self.id in vulnerability.ids


def load_vulnerability_waivers(path: Path) -> list[VulnerabilityWaiver]:
    """The `vulnerabilities:` entries of the waivers file (absent file or key: none)."""
    if not path.exists():
        return []
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SecurityReportError(f"{path}: not valid YAML: {exc}") from exc
    entries = document.get("vulnerabilities") if isinstance(document, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise SecurityReportError(f"{path}: 'vulnerabilities' must be a list of id, reason, owner, expires")
    waivers = []
    for index, entry in enumerate(entries, start=1):
        where = f"{path}: vulnerability waiver {index}"
        if not isinstance(entry, dict):
            raise SecurityReportError(f"{where}: must be a mapping")
        missing = [name for name in ("id", "reason", "owner", "expires") if not entry.get(name)]
        if missing:
            raise SecurityReportError(f"{where}: missing {', '.join(missing)}")
        expires = entry["expires"]
        if not isinstance(expires, date):
            try:
                expires = date.fromisoformat(str(expires))
            except ValueError as exc:
                raise SecurityReportError(f"{where}: {expires!r} is not a date (YYYY-MM-DD)") from exc
        waivers.append(
            VulnerabilityWaiver(str(entry["id"]), str(entry["reason"]), str(entry["owner"]), expires)
        )
    return waivers


@dataclass(frozen=True)
class AuditVerdict:
    open: tuple[str, ...]
    """Known vulnerabilities no valid waiver covers."""
    waived: tuple[str, ...]
    expired: tuple[str, ...]
    """Vulnerabilities whose only waiver has expired."""
    skipped: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        out = []
        if self.skipped:
            out.append(
                f"the dependency audit could not check {len(self.skipped)} dependencies "
                f"(first: {self.skipped[0]}): a dependency nobody checked is not known to be safe"
            )
        if self.open:
            plural = "y" if len(self.open) == 1 else "ies"
            expired = f"; expired waivers: {', '.join(self.expired)}" if self.expired else ""
            out.append(
                f"{len(self.open)} known vulnerabilit{plural}: {'; '.join(self.open[:5])}{expired}: "
                "upgrade, or waive each by id (waivers file, vulnerabilities:)"
            )
        return out


def judge_audit(audit: DependencyAudit, waivers: list[VulnerabilityWaiver], today: date) -> AuditVerdict:
    waived, open_, expired = [], [], []
    for vulnerability in audit.vulnerabilities:
        covering = [waiver for waiver in waivers if waiver.covers(vulnerability)]
        valid = [waiver for waiver in covering if waiver.expires >= today]
        if valid:
            waived.append(f"{vulnerability} (waived by {valid[0].owner} until {valid[0].expires})")
            continue
        open_.append(str(vulnerability))
        if covering:
            expired.append(f"{vulnerability.id} (waiver expired {covering[0].expires})")
    skipped = tuple(f"{name}: {why}" for name, why in audit.skipped)
    return AuditVerdict(tuple(open_), tuple(waived), tuple(expired), skipped)


def analysis_problems(analysis: StaticAnalysis, severity: str) -> list[str]:
    """Why the static analysis does not pass at `severity` (empty when it does)."""
    out = []
    if analysis.errors:
        out.append(f"bandit could not analyse {len(analysis.errors)} file(s): {list(analysis.errors[:3])}")
    blocking = analysis.at_least(severity)
    if blocking:
        out.append(
            f"bandit found {len(blocking)} issue(s) of {severity.lower()} severity or above: "
            + "; ".join(str(finding) for finding in blocking[:5])
        )
    return out


def age_problem(report: SecurityReport, days: int, now: datetime) -> str | None:
    age = now - report.finished_at
    if age.total_seconds() <= days * 86400:
        return None
    return (
        f"the security scan in {report.folder} finished {age.days} days ago ({report.finished_at:%Y-%m-%d}, "
        f"from {report.age_source}); at most {days} days are accepted: scan again"
    )
