"""The checklist's Daily checks and Weekly reviews, as data anyone can rerun.

Daily (last 24 hours): webhook processing logs, payment success rates, error logs review,
backup verification, system health. Weekly (last 7 days): restore drill results,
performance metrics, security scan results, error trend, capacity planning. Each check
reads the real sources (Prometheus, the aggregated logs, the drill's history, the backup
folder, the target's /status, a security report) and ends in one status:

  ok            measured, within its threshold
  warning       measured, within its threshold, but worth a look (RTO growing, say)
  breach        measured and outside its threshold: the job exits non-zero
  not measured  the source was not given (the reason says which option gives it)

Thresholds are not written here: they come from the checklist's feature tables
(`thresholds_from_feature`), so the jobs and the checklist lines judge alike.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from readiness_harness.monitoring import history as drill_history
from readiness_harness.monitoring import keymetrics
from readiness_harness.monitoring.alertmanager import AlertmanagerClient
from readiness_harness.monitoring.keymetrics import Threshold, Window
from readiness_harness.monitoring.logs import DELIVERY_FIELDS, LogsError, LogSource, missing_fields
from readiness_harness.monitoring.plots import Series, line_chart
from readiness_harness.monitoring.prometheus import PrometheusClient, PrometheusError

OK, WARNING, BREACH, NOT_MEASURED = "ok", "warning", "breach", "not measured"
KEY_METRICS_REFERENCE = "the key metrics"
"""A table row's threshold that defers to the key metrics' table (no number repeated)."""
DAY = 86400.0
DEFAULT_RETENTION = 7
"""Backups a folder keeps when no retention is given (the inventory's default)."""

DAILY_CHECKS = (
    "webhook processing logs",
    "payment success rates",
    "error logs review",
    "backup verification",
    "system health checks",
)
WEEKLY_REVIEWS = (
    "restore drill results",
    "performance metrics",
    "security scan results",
    "error trend analysis",
    "capacity planning",
)


@dataclass
class Check:
    name: str
    status: str
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, str] = field(default_factory=dict)
    """File name -> SVG document (written beside the report)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "summary": self.summary,
            "details": self.details,
            "plots": sorted(self.plots),
        }


@dataclass(frozen=True)
class Thresholds:
    """What the checks compare against, read from the checklist's feature tables."""

    values: Mapping[str, str]
    """Name (a key metric, a daily check or a weekly review) -> its threshold text."""

    def threshold(self, name: str) -> Threshold:
        if name not in self.values:
            raise KeyError(f"the checklist's tables give no threshold for {name!r}")
        return Threshold.parse(self.values[name])

    def number(self, name: str, unit: str) -> float:
        """A bare quantity ('26 h', '25%', '7 days') in `unit` (h, share or days)."""
        text = self.values[name].strip()
        match = re.fullmatch(r"(?:[<>=]=?\s*)?(\d+(?:\.\d+)?)\s*(%|h|hours?|days?|d|s)?", text)
        if not match:
            raise ValueError(f"cannot read the threshold {text!r} of {name!r}")
        number, given = float(match.group(1)), match.group(2) or ""
        if given == "%":
            return number / 100
        if unit == "h" and given.startswith("d"):
            return number * 24
        return number


def thresholds_from_feature(feature_file: Path) -> Thresholds:
    """Every `| <name> | ... | threshold |` row of the monitoring feature's outlines."""
    from pytest_bdd.feature import get_feature

    feature = get_feature(str(feature_file.parent), feature_file.name)
    values: dict[str, str] = {}
    for scenario in feature.scenarios.values():
        for examples in getattr(scenario, "examples", []) or []:
            for row in examples.as_contexts():
                name = row.get("metric") or row.get("check") or row.get("review")
                if name and row.get("threshold") and row["threshold"] != KEY_METRICS_REFERENCE:
                    values[str(name)] = str(row["threshold"])
    return Thresholds(values)


@dataclass
class Sources:
    """What a review reads; a None source makes its checks "not measured"."""

    prometheus: PrometheusClient | None = None
    jobs: str = ".+"
    """Regex of the scrape jobs that are the service."""
    logs: LogSource | None = None
    drill_dir: Path | None = None
    backup_dir: Path | None = None
    backup_retention: int | None = None
    security_report: Path | None = None
    status: Callable[[], tuple[int, dict[str, Any]]] | None = None
    """Reads the target's /status: (HTTP status, body)."""
    alertmanager: AlertmanagerClient | None = None
    capacity_rps: float | None = None
    secret_values: tuple[str, ...] = ()
    """Values that must never appear in the logs (the target's secrets, as far as known)."""
    error_reports: Callable[[], list[dict[str, Any]]] | None = None
    """The error sink's reports (the embedded default's sink)."""
    hints: Mapping[str, str] = field(default_factory=dict)
    """Source name -> the option that gives it (for "not measured" reasons)."""
    data_start: float | None = None
    """When Prometheus began to scrape, if later than the review's window (the embedded
    default's Prometheus starts with the job): the window starts there, so counters are
    not read from before Prometheus knew them."""

    def window(self, end: float, seconds: float) -> Window:
        return Window(max(end - seconds, self.data_start or 0.0), end)

    def missing(self, source: str) -> str:
        hint = self.hints.get(source)
        return f"no {source} was given" + (f" ({hint})" if hint else "")


@dataclass
class Review:
    kind: str
    generated_at: datetime
    window: Window
    checks: list[Check]
    sources: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def breaches(self) -> list[Check]:
        return [check for check in self.checks if check.status == BREACH]

    @property
    def status(self) -> str:
        if self.breaches:
            return BREACH
        if any(check.status == NOT_MEASURED for check in self.checks):
            return NOT_MEASURED
        if any(check.status == WARNING for check in self.checks):
            return WARNING
        return OK

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "generated_at": self.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window": {
                "start": datetime.fromtimestamp(self.window.start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": datetime.fromtimestamp(self.window.end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "status": self.status,
            "breaches": [check.name for check in self.breaches],
            "warnings": self.warnings,
            "sources": self.sources,
            "checks": [check.as_dict() for check in self.checks],
        }


def _guard(name: str, build: Callable[[], Check]) -> Check:
    """A check whose source failed is a breach that says so, never a crash or a pass."""
    try:
        return build()
    except (PrometheusError, LogsError, drill_history.HistoryError, OSError, ValueError) as exc:
        return Check(name, BREACH, f"could not be measured: {exc}", {"error": str(exc)})


# ---- daily --------------------------------------------------------------------------


def _deliveries_counted(prometheus: PrometheusClient, window: Window, jobs: str) -> float:
    expr = keymetrics.delta(f'webhook_deliveries_total{{job=~"{jobs}"}}', window)
    return prometheus.scalar(expr, at=window.end) or 0.0


def check_processing_logs(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    name = "webhook processing logs"
    if sources.logs is None:
        return Check(name, NOT_MEASURED, sources.missing("logs"))
    entries = sources.logs.entries(window.start, window.end)
    deliveries = [
        entry for entry in entries if entry.get("message") == "webhook delivery" or "outcome" in entry
    ]
    outcomes = Counter(str(entry.get("outcome")) for entry in deliveries)
    incomplete = [entry for entry in deliveries if missing_fields(entry)]
    leaked = [
        value[:4] + "..." for value in sources.secret_values if any(value in json.dumps(e) for e in entries)
    ]
    details: dict[str, Any] = {
        "source": sources.logs.where,
        "log_lines": len(entries),
        "delivery_lines": len(deliveries),
        "by_outcome": dict(outcomes),
        "lines_missing_fields": len(incomplete),
        "required_fields": list(DELIVERY_FIELDS),
    }
    problems = []
    if incomplete:
        problems.append(f"{len(incomplete)} delivery lines lack {', '.join(missing_fields(incomplete[0]))}")
    if leaked:
        problems.append(f"a secret appears in the logs ({len(leaked)} values)")
    if sources.prometheus is not None:
        counted = _deliveries_counted(sources.prometheus, window, sources.jobs)
        details["deliveries_in_prometheus"] = counted
        if counted > 0:
            share = min(1.0, len(deliveries) / counted)
            details["logged_share"] = share
            limit = thresholds.threshold(name)
            if not limit.holds(share):
                problems.append(
                    f"only {share:.1%} of the {counted:g} deliveries Prometheus counted were logged"
                )
    if not deliveries:
        problems.append("no delivery was logged in the window")
    if problems:
        return Check(name, BREACH, "; ".join(problems), details)
    return Check(
        name,
        OK,
        f"{len(deliveries)} deliveries logged ({', '.join(f'{k} {v}' for k, v in outcomes.items())})",
        details,
    )


def _key_metric_check(
    name: str, metric: str, sources: Sources, window: Window, thresholds: Thresholds
) -> tuple[Check, keymetrics.Measurement | None]:
    if sources.prometheus is None:
        return Check(name, NOT_MEASURED, sources.missing("prometheus")), None
    measured = keymetrics.key_metric(metric)(sources.prometheus, window, sources.jobs)
    limit = thresholds.threshold(metric)
    details = measured.evidence() | {"threshold": limit.text}
    if measured.value is None:
        return Check(
            name, BREACH, f"{metric}: no data in the window (is the service scraped?)", details
        ), measured
    verdict = OK if limit.holds(measured.value) else BREACH
    return Check(name, verdict, f"{metric} {measured.shown()} (threshold {limit.text})", details), measured


def check_success_rates(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    check, measured = _key_metric_check(
        "payment success rates", "webhook processing success rate", sources, window, thresholds
    )
    if measured is not None and sources.prometheus is not None:
        by_gateway = sources.prometheus.vector(
            "sum by (gateway, outcome) (increase("
            f'webhook_deliveries_total{{job=~"{sources.jobs}"}}[{window.range}]))',
            at=window.end,
        )
        check.details["by_gateway_and_outcome"] = {
            f"{s.labels.get('gateway')}/{s.labels.get('outcome')}": round(s.value, 1) for s in by_gateway
        }
    return check


def check_error_logs(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    name = "error logs review"
    if sources.logs is None and sources.prometheus is None:
        return Check(name, NOT_MEASURED, sources.missing("logs"))
    details: dict[str, Any] = {}
    problems: list[str] = []
    if sources.logs is not None:
        entries = sources.logs.entries(window.start, window.end)
        errors = [entry for entry in entries if str(entry.get("level", "")).lower() in ("error", "critical")]
        details["error_lines"] = len(errors)
        details["by_message"] = dict(
            Counter(str(entry.get("message"))[:120] for entry in errors).most_common(10)
        )
    if sources.prometheus is not None:
        unhandled = sources.prometheus.scalar(
            keymetrics.delta(f'unhandled_errors_total{{job=~"{sources.jobs}"}}', window), at=window.end
        )
        details["unhandled_errors"] = unhandled
        exposed = sources.prometheus.vector(f'unhandled_errors_total{{job=~"{sources.jobs}"}}', at=window.end)
        if not exposed:
            problems.append("the service exposes no unhandled_errors_total: unhandled errors go uncounted")
        elif unhandled:
            problems.append(f"{unhandled:g} unhandled errors (answered 500) in the window")
        measured = keymetrics.error_rate(sources.prometheus, window, sources.jobs)
        details["error_rate"] = measured.evidence()
        limit = thresholds.threshold("error rate")
        if measured.value is not None and not limit.holds(measured.value):
            problems.append(f"error rate {measured.shown()} (threshold {limit.text})")
    if sources.error_reports is not None:
        reports = sources.error_reports()
        details["error_sink_reports"] = [
            {key: report.get(key) for key in ("time", "route", "exception", "event_id")}
            for report in reports[-10:]
        ]
    if problems:
        return Check(name, BREACH, "; ".join(problems), details)
    return Check(name, OK, f"{details.get('error_lines', 0)} error lines, no unhandled error", details)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_backups(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    name = "backup verification"
    if sources.backup_dir is None:
        return Check(name, NOT_MEASURED, sources.missing("backup folder"))
    folder = sources.backup_dir
    if not folder.is_dir():
        return Check(name, BREACH, f"the backup folder {folder} does not exist", {"folder": str(folder)})
    backups = sorted(
        (
            path
            for path in folder.iterdir()
            if path.is_file()
            and path.name.startswith("backup_")
            and not path.name.endswith((".sha256", ".json"))
        ),
        key=lambda path: path.stat().st_mtime,
    )
    mode = folder.stat().st_mode & 0o777
    details: dict[str, Any] = {"folder": str(folder), "backups": len(backups), "folder_mode": f"{mode:04o}"}
    if not backups:
        return Check(name, BREACH, f"no backup in {folder}", details)
    newest = backups[-1]
    age_h = (window.end - newest.stat().st_mtime) / 3600
    max_age = thresholds.number(name, "h")
    details |= {
        "newest": newest.name,
        "newest_bytes": newest.stat().st_size,
        "age_hours": round(age_h, 2),
        "max_age_hours": max_age,
    }
    problems = []
    if age_h > max_age:
        problems.append(f"the newest backup {newest.name} is {age_h:.1f} h old (more than {max_age:g} h)")
    if newest.stat().st_size == 0:
        problems.append(f"the newest backup {newest.name} is empty")
    checksum = newest.with_name(newest.name + ".sha256")
    if not checksum.exists():
        problems.append(f"{newest.name} has no checksum file")
    else:
        recorded = checksum.read_text().split()[0] if checksum.read_text().split() else ""
        details["sha256_matches"] = recorded == _sha256(newest)
        if not details["sha256_matches"]:
            problems.append(f"{newest.name} does not match its sha256 file")
    if mode & 0o077:
        problems.append(f"the backup folder is readable by others (mode {mode:04o})")
    if sources.backup_retention is not None:
        details["retention"] = sources.backup_retention
        if len(backups) > sources.backup_retention:
            problems.append(
                f"{len(backups)} backups kept, more than the retention of {sources.backup_retention}"
            )
    if problems:
        return Check(name, BREACH, "; ".join(problems), details)
    return Check(name, OK, f"newest backup {newest.name}, {age_h:.1f} h old, checksum matches", details)


def check_health(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    name = "system health checks"
    if sources.status is None and sources.prometheus is None:
        return Check(name, NOT_MEASURED, sources.missing("target"))
    details: dict[str, Any] = {}
    problems = []
    if sources.status is not None:
        code, body = sources.status()
        details["status"] = {
            "http": code,
            **{key: body.get(key) for key in ("database", "redis", "version", "error_sink")},
        }
        if code != 200:
            problems.append(f"/status answered {code}")
        for part in ("database", "redis"):
            if body.get(part) not in ("ok", True):
                problems.append(f"/status reports {part} {body.get(part)!r}")
    if sources.prometheus is not None:
        up = sources.prometheus.vector(f'up{{job=~"{sources.jobs}"}}', at=window.end)
        details["scrape_targets"] = {str(s.labels.get("instance")): s.value for s in up}
        down = [str(s.labels.get("instance")) for s in up if s.value < 1]
        if not up:
            problems.append("Prometheus scrapes no instance of the service")
        if down:
            problems.append(f"instances down: {', '.join(down)}")
        measured = keymetrics.uptime(sources.prometheus, window, sources.jobs)
        details["uptime"] = measured.evidence()
        limit = thresholds.threshold("system uptime")
        if measured.value is not None and not limit.holds(measured.value):
            problems.append(f"uptime {measured.shown()} (threshold {limit.text})")
    if sources.alertmanager is not None:
        firing = [
            alert
            for alert in sources.alertmanager.alerts()
            if alert.get("status", {}).get("state") == "active"
        ]
        pages = [a["labels"].get("alertname") for a in firing if a["labels"].get("severity") == "page"]
        details["active_alerts"] = sorted({str(a["labels"].get("alertname")) for a in firing})
        if pages:
            problems.append(f"paging alerts active: {', '.join(sorted(set(map(str, pages))))}")
    if problems:
        return Check(name, BREACH, "; ".join(problems), details)
    return Check(name, OK, "the service, its database and cache are up; no paging alert", details)


# ---- weekly -------------------------------------------------------------------------


def _day_windows(window: Window) -> list[Window]:
    """Whole UTC days ending with the window's end (the last one may be partial)."""
    end = datetime.fromtimestamp(window.end, UTC)
    days = []
    cursor = end.replace(hour=0, minute=0, second=0, microsecond=0)
    upper = window.end
    while upper > window.start:
        lower = max(window.start, cursor.timestamp())
        if upper - lower >= 1:
            days.append(Window(lower, upper))
        upper = lower
        cursor -= timedelta(days=1)
    return list(reversed(days))


def _day_label(day: Window) -> str:
    return datetime.fromtimestamp(day.start, UTC).strftime("%Y-%m-%d")


def check_drill_results(sources: Sources, window: Window, thresholds: Thresholds) -> tuple[Check, list[str]]:
    name = "restore drill results"
    if sources.drill_dir is None:
        return Check(name, NOT_MEASURED, sources.missing("drill reports folder")), []
    records = drill_history.load_history(sources.drill_dir / "history.jsonl")
    start = datetime.fromtimestamp(window.start, UTC)
    this_week = drill_history.since(records, start)
    rate = drill_history.success_rate(this_week)
    limit = thresholds.threshold("restore drill success rate")
    growth = thresholds.number(name, "share")
    trends = drill_history.rto_trends(records)
    warnings = [text for trend in trends if (text := trend.warning(growth))]
    labels = [
        record.finished_at.strftime("%m-%d %H:%M")
        + (f" {record.host}" if len({r.host for r in records}) > 1 else "")
        for record in records
    ]
    plots = {
        "drill_rto.svg": line_chart(
            "Restore time (RTO) of every restore drill",
            [Series("RTO (s)", list(zip(labels, [r.rto_seconds for r in records], strict=True)))],
            y_unit=" s",
        ),
        "drill_rpo.svg": line_chart(
            "Data age (RPO) of every restore drill",
            [Series("RPO (min)", list(zip(labels, [_minutes(r.rpo_seconds) for r in records], strict=True)))],
            y_unit=" min",
        ),
    }
    details: dict[str, Any] = {
        "history": str(sources.drill_dir / "history.jsonl"),
        "drills_in_history": len(records),
        "drills_this_week": len(this_week),
        "success_rate_this_week": rate,
        "threshold": limit.text,
        "failed": [r.as_dict() for r in this_week if not r.passed],
        "rto_week_over_week": [
            {
                "host": t.host,
                "week": t.week,
                "rto_seconds": t.rto_seconds,
                "previous_week": t.previous_week,
                "previous_rto_seconds": t.previous_rto_seconds,
                "growth": round(t.growth, 4),
            }
            for t in trends
        ],
        "rto_growth_allowed": growth,
        "drills": [r.as_dict() for r in records[-20:]],
    }
    if not this_week:
        return Check(
            name, BREACH, f"no restore drill in the last {window.seconds / DAY:.0f} days", details, plots
        ), warnings
    if rate is None or not limit.holds(rate):
        failed = ", ".join(
            f"{r.host} {r.finished_at:%Y-%m-%d} ({(r.failure or {}).get('check', '?')})"
            for r in this_week
            if not r.passed
        )
        return Check(
            name,
            BREACH,
            f"drill success rate {rate:.0%} this week (threshold {limit.text}): failed {failed}",
            details,
            plots,
        ), warnings
    status = WARNING if warnings else OK
    last = this_week[-1]
    summary = (
        f"{len(this_week)} drills this week, all passed; "
        f"last RTO {last.rto_seconds} s, RPO {last.rpo_seconds} s"
    )
    return Check(name, status, summary + ("; " + warnings[0] if warnings else ""), details, plots), warnings


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _per_day(
    prometheus: PrometheusClient, days: list[Window], jobs: str
) -> dict[str, list[tuple[str, float | None]]]:
    series: dict[str, list[tuple[str, float | None]]] = {
        "success": [],
        "p99": [],
        "errors": [],
        "error_rate": [],
    }
    for day in days:
        label = _day_label(day)
        series["success"].append((label, keymetrics.success_rate(prometheus, day, jobs).value))
        series["p99"].append((label, keymetrics.p99_latency(prometheus, day, jobs).value))
        rate = keymetrics.error_rate(prometheus, day, jobs)
        series["error_rate"].append((label, rate.value))
        errors = prometheus.scalar(
            keymetrics.delta(f'webhook_deliveries_total{{outcome="error",job=~"{jobs}"}}', day), at=day.end
        )
        series["errors"].append((label, errors))
    return series


def check_performance(
    sources: Sources, window: Window, thresholds: Thresholds, per_day: dict[str, Any] | None
) -> Check:
    name = "performance metrics"
    if sources.prometheus is None or per_day is None:
        return Check(name, NOT_MEASURED, sources.missing("prometheus"))
    latency = thresholds.threshold("payment processing latency")
    success = thresholds.threshold("webhook processing success rate")
    plots = {
        "success_rate_per_day.svg": line_chart(
            "Webhook processing success rate per day",
            [
                Series(
                    "success rate (%)", [(d, None if v is None else v * 100) for d, v in per_day["success"]]
                )
            ],
            y_unit="%",
            threshold=success.value * 100,
            threshold_label=f"threshold {success.text}",
        ),
        "p99_latency_per_day.svg": line_chart(
            "Payment processing latency p99 per day",
            [Series("p99 (s)", per_day["p99"])],
            y_unit=" s",
            threshold=latency.value,
            threshold_label=f"threshold {latency.text}",
        ),
    }
    week = keymetrics.p99_latency(sources.prometheus, window, sources.jobs)
    details = {
        "p99_week": week.evidence(),
        "per_day": per_day,
        "thresholds": {"p99": latency.text, "success": success.text},
    }
    bad_days = [day for day, value in per_day["p99"] if value is not None and not latency.holds(value)]
    bad_success = [day for day, value in per_day["success"] if value is not None and not success.holds(value)]
    if week.value is None:
        return Check(
            name, BREACH, "no latency observations in the week (is the service scraped?)", details, plots
        )
    problems = []
    if bad_days:
        problems.append(f"p99 above {latency.text} on {', '.join(bad_days)}")
    if bad_success:
        problems.append(f"success rate below {success.text} on {', '.join(bad_success)}")
    if problems:
        return Check(name, BREACH, "; ".join(problems), details, plots)
    return Check(
        name, OK, f"p99 {week.shown()} over the week, every day within {latency.text}", details, plots
    )


def check_security_report(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    name = "security scan results"
    if sources.security_report is None:
        return Check(name, NOT_MEASURED, sources.missing("security report"))
    path = sources.security_report
    if not path.exists():
        return Check(name, BREACH, f"no security report at {path}", {"report": str(path)})
    # a file, or a folder of the scanners' JSON reports (what `readiness security-scan` writes)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        return Check(name, BREACH, f"no JSON security report in {path}", {"report": str(path)})
    max_age = thresholds.number(name, "days")
    age_days = (window.end - min(file.stat().st_mtime for file in files)) / DAY
    findings = []
    for file in files:
        try:
            findings += security_findings(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            return Check(name, BREACH, f"{file} cannot be read as JSON: {exc}", {"report": str(file)})
    details = {
        "report": str(path),
        "age_days": round(age_days, 2),
        "max_age_days": max_age,
        "findings": findings[:50],
        "count": len(findings),
    }
    problems = []
    if age_days > max_age:
        problems.append(f"the security report is {age_days:.1f} days old (more than {max_age:g})")
    if findings:
        problems.append(f"{len(findings)} open findings: {', '.join(f['id'] for f in findings[:5])}")
    if problems:
        return Check(name, BREACH, "; ".join(problems), details)
    return Check(name, OK, f"no open finding in {path.name} ({age_days:.1f} days old)", details)


def security_findings(document: Any) -> list[dict[str, str]]:
    """Open findings in a pip-audit JSON report (known vulnerabilities), a bandit JSON
    report (medium or high severity issues), or a combined {"pip_audit": ..., "bandit": ...}."""
    found: list[dict[str, str]] = []
    if isinstance(document, dict) and ("pip_audit" in document or "bandit" in document):
        return security_findings(document.get("pip_audit")) + security_findings(document.get("bandit"))
    if isinstance(document, dict) and isinstance(document.get("dependencies"), list):
        for dependency in document["dependencies"]:
            for vulnerability in dependency.get("vulns") or []:
                found.append(
                    {
                        "id": str(vulnerability.get("id")),
                        "what": f"{dependency.get('name')} {dependency.get('version')}",
                    }
                )
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        for issue in document["results"]:
            if str(issue.get("issue_severity", "")).upper() in ("MEDIUM", "HIGH"):
                found.append(
                    {
                        "id": str(issue.get("test_id")),
                        "what": f"{issue.get('filename')}:{issue.get('line_number')} "
                        f"{issue.get('issue_text')}",
                    }
                )
    return found


def check_error_trend(
    sources: Sources, window: Window, thresholds: Thresholds, per_day: dict[str, Any] | None
) -> Check:
    name = "error trend analysis"
    if sources.prometheus is None or per_day is None:
        return Check(name, NOT_MEASURED, sources.missing("prometheus"))
    limit = thresholds.threshold("error rate")
    previous = Window(window.start - (window.end - window.start), window.start)
    this_week = keymetrics.error_rate(sources.prometheus, window, sources.jobs)
    last_week = keymetrics.error_rate(sources.prometheus, previous, sources.jobs)
    unhandled = sources.prometheus.scalar(
        keymetrics.delta(f'unhandled_errors_total{{job=~"{sources.jobs}"}}', window), at=window.end
    )
    plots = {
        "errors_per_day.svg": line_chart(
            "Failed deliveries (5xx) per day", [Series("errors", per_day["errors"])], y_unit=""
        )
    }
    trend = "no data"
    if this_week.value is not None and last_week.value is not None:
        trend = "rising" if this_week.value > last_week.value else "falling or flat"
    details = {
        "error_rate_this_week": this_week.evidence(),
        "error_rate_previous_week": last_week.evidence(),
        "unhandled_errors_this_week": unhandled,
        "trend": trend,
        "threshold": limit.text,
        "per_day": per_day["error_rate"],
    }
    bad = [day for day, value in per_day["error_rate"] if value is not None and not limit.holds(value)]
    if this_week.value is not None and not limit.holds(this_week.value):
        return Check(
            name,
            BREACH,
            f"error rate {this_week.shown()} this week (threshold {limit.text}), {trend}",
            details,
            plots,
        )
    if bad:
        return Check(name, BREACH, f"error rate above {limit.text} on {', '.join(bad)}", details, plots)
    status = WARNING if trend == "rising" and (this_week.value or 0) > 0 else OK
    return Check(
        name,
        status,
        f"error rate {this_week.shown()} this week ({trend} against the week before)",
        details,
        plots,
    )


def check_capacity(sources: Sources, window: Window, thresholds: Thresholds) -> Check:
    name = "capacity planning"
    limit = thresholds.threshold(name)
    details: dict[str, Any] = {"threshold": limit.text}
    problems = []
    measured = False
    if sources.prometheus is not None:
        peak = sources.prometheus.scalar(
            f'max_over_time(sum(rate(webhook_deliveries_total{{job=~"{sources.jobs}"}}[5m]))[{window.range}:1m])',
            at=window.end,
        )
        details["peak_deliveries_per_s"] = peak
        if sources.capacity_rps:
            measured = True
            headroom = 1 - (peak or 0.0) / sources.capacity_rps
            details |= {"capacity_deliveries_per_s": sources.capacity_rps, "headroom": headroom}
            if not limit.holds(headroom):
                problems.append(
                    f"peak {peak or 0:.2f}/s leaves {headroom:.0%} headroom of "
                    f"{sources.capacity_rps:g}/s (threshold {limit.text})"
                )
        else:
            details["capacity_deliveries_per_s"] = sources.missing("measured capacity")
    if sources.backup_dir is not None and sources.backup_dir.is_dir():
        import shutil

        backups = [
            p
            for p in sources.backup_dir.iterdir()
            if p.is_file() and p.name.startswith("backup_") and p.suffix not in (".sha256", ".json")
        ]
        usage = shutil.disk_usage(sources.backup_dir)
        newest = max((p.stat().st_size for p in backups), default=0)
        fits = usage.free / newest if newest else None
        details |= {
            "backup_disk_free_bytes": usage.free,
            "backup_disk_total_bytes": usage.total,
            "newest_backup_bytes": newest,
            "backups_that_still_fit": fits,
        }
        if newest and fits is not None:
            measured = True
            keep = sources.backup_retention or DEFAULT_RETENTION
            details["backups_the_retention_keeps"] = keep
            if fits < keep:
                problems.append(
                    f"the backup disk has room for {fits:.1f} more backups of {newest} bytes, fewer than "
                    f"the {keep} the retention keeps"
                )
    if not measured:
        return Check(
            name,
            NOT_MEASURED,
            "neither a measured capacity (--capacity-rps) nor a backup folder was given",
            details,
        )
    if problems:
        return Check(name, BREACH, "; ".join(problems), details)
    return Check(name, OK, "headroom within the threshold", details)


# ---- the two reviews --------------------------------------------------------------


def daily(sources: Sources, thresholds: Thresholds, now: float | None = None) -> Review:
    end = now if now is not None else time.time()
    window = sources.window(end, DAY)
    builders: list[tuple[str, Callable[[], Check]]] = [
        ("webhook processing logs", lambda: check_processing_logs(sources, window, thresholds)),
        ("payment success rates", lambda: check_success_rates(sources, window, thresholds)),
        ("error logs review", lambda: check_error_logs(sources, window, thresholds)),
        ("backup verification", lambda: check_backups(sources, window, thresholds)),
        ("system health checks", lambda: check_health(sources, window, thresholds)),
    ]
    checks = [_guard(name, build) for name, build in builders]
    return Review("daily", datetime.fromtimestamp(end, UTC), window, checks, {})


def weekly(sources: Sources, thresholds: Thresholds, now: float | None = None) -> Review:
    end = now if now is not None else time.time()
    window = sources.window(end, 7 * DAY)
    whole_week = Window(end - 7 * DAY, end)  # files (drill history, security report): the whole week
    per_day = None
    if sources.prometheus is not None:
        try:
            per_day = _per_day(sources.prometheus, _day_windows(window), sources.jobs)
        except PrometheusError:
            per_day = None
    warnings: list[str] = []

    def drills() -> Check:
        check, found = check_drill_results(sources, whole_week, thresholds)
        warnings.extend(found)
        return check

    builders: list[tuple[str, Callable[[], Check]]] = [
        ("restore drill results", drills),
        ("performance metrics", lambda: check_performance(sources, window, thresholds, per_day)),
        ("security scan results", lambda: check_security_report(sources, whole_week, thresholds)),
        ("error trend analysis", lambda: check_error_trend(sources, window, thresholds, per_day)),
        ("capacity planning", lambda: check_capacity(sources, window, thresholds)),
    ]
    checks = [_guard(name, build) for name, build in builders]
    return Review("weekly", datetime.fromtimestamp(end, UTC), window, checks, {}, warnings)
