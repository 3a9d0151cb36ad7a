"""What `readiness daily` and `readiness weekly` share: their options, their sources, the
embedded default, and the dated report with an exit code to match.

Against a deployment the jobs read what they are given: its Prometheus and Alertmanager,
its logs (a JSON-lines file or Loki), its /status, the drill's reports folder (with
history.jsonl), the backup folder, a security report. Without --prometheus-url they run
on the embedded default: the reference service on embedded servers with the real
Prometheus, Alertmanager and node_exporter, a short burst of synthetic signed
deliveries (said so in the report), and for the daily job a fresh backup to verify.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from readiness_harness.cli import interrupts
from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.settings.secrets import SECRET_ENVIRONMENT as SECRET_NAMES
from readiness_harness.settings.secrets import load_secrets, redact_url, scrub

SCRAPE_WAIT_S = 60.0
"""How long the job waits for Prometheus to have scraped its synthetic captures."""
SYNTHETIC_CAPTURES = 30
EXIT_BREACH = 1
EXIT_USAGE = 2


def _from_env(group: Any, flag: str, env: str, metavar: str, help_text: str) -> None:
    """An option whose default is the environment variable `env` (named in its help)."""
    group.add_argument(flag, default=os.environ.get(env), metavar=metavar, help=f"{help_text} [env {env}]")


def add_arguments(parser: argparse.ArgumentParser, weekly: bool) -> None:
    where = parser.add_argument_group("the deployment (default: the embedded reference deployment)")
    _from_env(where, "--prometheus-url", "READINESS_PROMETHEUS_URL", "URL", "the deployment's Prometheus")
    _from_env(where, "--alertmanager-url", "READINESS_ALERTMANAGER_URL", "URL", "its Alertmanager")
    _from_env(where, "--target-url", "READINESS_TARGET_URL", "URL", "the service's base URL (/status)")
    _from_env(where, "--ca-bundle", "READINESS_CA_BUNDLE", "PATH", "CA bundle for an https target")
    _from_env(where, "--loki-url", "READINESS_LOKI_URL", "URL", "its logs in Loki")
    where.add_argument(
        "--loki-selector",
        default=os.environ.get("READINESS_LOKI_SELECTOR", '{job=~".+"}'),
        metavar="SELECTOR",
        help="LogQL stream selector of the service's logs",
    )
    _from_env(where, "--log-file", "LOG_FILE", "PATH", "its logs as a JSON-lines file instead of Loki")
    _from_env(where, "--backup-path", "BACKUP_PATH", "PATH", "the backup folder")
    where.add_argument(
        "--backup-retention",
        type=int,
        default=None,
        metavar="N",
        help="backups the folder may keep (more is a breach)",
    )
    where.add_argument(
        "--drill-reports",
        default=os.environ.get("DRILL_REPORT_PATH"),
        metavar="DIR",
        help="the restore drill's reports folder, with history.jsonl [env DRILL_REPORT_PATH; "
        "default reports/drill]",
    )
    if weekly:
        _from_env(
            where,
            "--security-report",
            "READINESS_SECURITY_REPORT",
            "PATH",
            "the newest security scan: pip-audit or bandit JSON, or a folder of them",
        )
        where.add_argument(
            "--capacity-rps",
            type=float,
            default=None,
            metavar="N",
            help="deliveries per second the deployment was measured to sustain",
        )
    out = parser.add_argument_group("the report")
    out.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="where to write the dated report (default reports/daily or reports/weekly)",
    )
    out.add_argument(
        "--features-dir",
        default=str(PROJECT_ROOT / "features"),
        metavar="DIR",
        help="the checklist, whose monitoring tables hold the thresholds",
    )


def _latency_visible(prometheus: Any, since: float) -> bool:
    """Wait until the latency of the synthetic captures is there the way the reviews read
    it (the same measurement over a window from `since` to now), at most SCRAPE_WAIT_S."""
    from readiness_harness.monitoring.embedded import SERVICE_JOB
    from readiness_harness.monitoring.keymetrics import Window, p99_latency

    deadline = time.monotonic() + SCRAPE_WAIT_S
    while time.monotonic() < deadline:
        if p99_latency(prometheus, Window(since, time.time()), SERVICE_JOB).value is not None:
            return True
        time.sleep(0.5)
    return False


def _print(text: str) -> None:
    print(scrub(text), flush=True)


@contextlib.contextmanager
def embedded_sources(args: argparse.Namespace, kind: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The embedded reference deployment with real monitoring, synthetic traffic and (daily)
    a fresh backup; yields the review's sources and what was done, for the report."""
    from readiness_harness.drill.demo_data import seed_if_empty
    from readiness_harness.drill.playbooks import run_playbook
    from readiness_harness.gateways.clients import WebhookClient
    from readiness_harness.gateways.events import GATEWAYS, Payment
    from readiness_harness.gateways.simulator import GatewaySimulator
    from readiness_harness.monitoring.embedded import EmbeddedMonitoring, ServiceEndpoint
    from readiness_harness.monitoring.logs import FileLogs
    from readiness_harness.monitoring.reviews import Sources
    from readiness_harness.monitoring.rules import load_rule_files
    from readiness_harness.monitoring.security_scan import scan_reference_service
    from readiness_harness.settings.options import GATEWAY_NAMES
    from readiness_harness.target.embedded import pg_bin_dir_for_wheel
    from readiness_harness.target.resolve import REFERENCE_RULES
    from readiness_harness.target.stack import embedded_stack, private_folder
    from readiness_harness.target.target import Target

    secrets = load_secrets()
    drill_dir = Path(args.drill_reports or PROJECT_ROOT / "reports" / "drill")
    with contextlib.ExitStack() as stack:
        _print(f"[{kind}] starting the embedded reference deployment (PostgreSQL, Redis, service)")
        deployment = stack.enter_context(embedded_stack(secrets, tls=True))
        _print(
            f"[{kind}] starting Prometheus, Alertmanager and node_exporter (drill metrics from {drill_dir})"
        )
        service = deployment.service
        monitoring = stack.enter_context(
            EmbeddedMonitoring(
                ServiceEndpoint(f"{service.host}:{service.port}", "https", deployment.ca_file),
                list(load_rule_files(REFERENCE_RULES).rule_files),
                REFERENCE_RULES / "alertmanager.yml",
                drill_dir,
            )
        )
        target = Target(deployment.url, secrets, GATEWAY_NAMES, True, deployment.ca_file, servers=deployment)
        client = stack.enter_context(WebhookClient(deployment.url, verify=target.verify))
        simulator = GatewaySimulator(target, client)
        _print(
            f"[{kind}] sending {SYNTHETIC_CAPTURES} signed synthetic captures, "
            "a duplicate and an unsigned delivery"
        )
        answers: dict[int, int] = {}
        first = None
        for index in range(SYNTHETIC_CAPTURES):
            payment = Payment.new(GATEWAYS[index % len(GATEWAYS)], "481", "black")
            first = first or payment
            reply = simulator.send(simulator.capture(payment))
            answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
        if first is not None:
            reply = simulator.send(simulator.capture(first))
            answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
            reply = simulator.send(simulator.unsigned_capture(first))
            answers[reply.status_code] = answers.get(reply.status_code, 0) + 1
        # Prometheus must have scraped the burst before the reviews read it: on a loaded
        # machine a fixed pause is not enough, so wait for the counts themselves.
        if not _latency_visible(monitoring.prometheus(), monitoring.started_at):
            _print(f"[{kind}] Prometheus had not scraped the synthetic captures after {SCRAPE_WAIT_S:.0f} s")
        done: dict[str, Any] = {
            "deployment": "the embedded reference deployment (started for this job)",
            "synthetic traffic": f"{SYNTHETIC_CAPTURES + 2} deliveries sent by the job, answered {answers}",
        }
        backup_dir = Path(args.backup_path) if args.backup_path else None
        if kind == "daily" and backup_dir is None:
            backup_dir = private_folder("readiness-daily-backups-")
            stack.callback(shutil.rmtree, backup_dir, ignore_errors=True)
            seed_if_empty(deployment.database_url)
            _print(f"[{kind}] taking a backup to verify (playbooks/backup.yml)")
            run = run_playbook(
                "backup",
                {
                    "DATABASE_URL": deployment.database_url,
                    "REDIS_URL": deployment.redis_url,
                    "BACKUP_PATH": str(backup_dir),
                    "PG_BIN_DIR": str(
                        deployment.postgres.bin_dir if deployment.postgres else pg_bin_dir_for_wheel()
                    ),
                },
            )
            done["backup"] = f"playbooks/backup.yml {'passed' if run.ok else f'FAILED (exit {run.rc})'}"
        security_report = Path(args.security_report) if getattr(args, "security_report", None) else None
        if kind == "weekly" and security_report is None:
            _print(f"[{kind}] scanning the reference service's code with bandit (the security review)")
            scan_folder = private_folder("readiness-security-scan-")
            stack.callback(shutil.rmtree, scan_folder, ignore_errors=True)
            security_report = scan_reference_service(scan_folder)
            done["security scan"] = "bandit over reference_service/, run by the job (pip-audit runs in CI)"
        sources = Sources(
            prometheus=monitoring.prometheus(),
            jobs="cardpack",
            logs=FileLogs(deployment.log_file) if deployment.log_file else None,
            drill_dir=drill_dir,
            backup_dir=backup_dir,
            backup_retention=args.backup_retention,
            security_report=security_report,
            status=lambda: _status(client.get("/status")),
            alertmanager=monitoring.alertmanager(),
            capacity_rps=getattr(args, "capacity_rps", None),
            secret_values=tuple(secret.reveal() for secret in secrets.values()),
            error_reports=deployment.error_sink.reports if deployment.error_sink else None,
            hints=HINTS,
            data_start=monitoring.started_at,
        )
        yield sources, done


HINTS = {
    "prometheus": "--prometheus-url",
    "logs": "--loki-url or --log-file",
    "drill reports folder": "--drill-reports",
    "backup folder": "--backup-path",
    "security report": "--security-report",
    "measured capacity": "--capacity-rps",
    "target": "--target-url",
}


def _status(reply: Any) -> tuple[int, dict[str, Any]]:
    return reply.status_code, reply.body


@contextlib.contextmanager
def deployed_sources(args: argparse.Namespace) -> Iterator[tuple[Any, dict[str, Any]]]:
    from readiness_harness.monitoring.alertmanager import AlertmanagerClient
    from readiness_harness.monitoring.logs import FileLogs, LogSource, LokiLogs
    from readiness_harness.monitoring.prometheus import PrometheusClient, service_jobs
    from readiness_harness.monitoring.reviews import Sources

    with contextlib.ExitStack() as stack:
        prometheus = stack.enter_context(PrometheusClient(args.prometheus_url))
        jobs = service_jobs(prometheus)
        if not jobs:
            raise SystemExit(
                f"no scrape job of {prometheus.shown_url} exposes webhook_deliveries_total: "
                "is the service scraped?"
            )
        logs: LogSource | None = None
        if args.loki_url:
            loki = LokiLogs(args.loki_url, args.loki_selector)
            stack.callback(loki.close)
            logs = loki
        elif args.log_file:
            logs = FileLogs(Path(args.log_file))
        status: Callable[[], tuple[int, dict[str, Any]]] | None = None
        if args.target_url:
            verify: Any = True
            if args.ca_bundle:
                import ssl

                verify = ssl.create_default_context(cafile=args.ca_bundle)
            http = stack.enter_context(httpx.Client(base_url=args.target_url, verify=verify, timeout=15))

            def status() -> tuple[int, dict[str, Any]]:
                response = http.get("/status")
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                return response.status_code, body if isinstance(body, dict) else {}

        alertmanager = None
        if args.alertmanager_url:
            alertmanager = AlertmanagerClient(args.alertmanager_url)
            stack.callback(alertmanager.close)
        secrets = load_secrets()
        sources = Sources(
            prometheus=prometheus,
            jobs="|".join(jobs),
            logs=logs,
            drill_dir=Path(args.drill_reports) if args.drill_reports else None,
            backup_dir=Path(args.backup_path) if args.backup_path else None,
            backup_retention=args.backup_retention,
            security_report=Path(args.security_report) if getattr(args, "security_report", None) else None,
            status=status,
            alertmanager=alertmanager,
            capacity_rps=getattr(args, "capacity_rps", None),
            secret_values=tuple(
                secret.reveal()
                for name, secret in zip(SECRET_NAMES, secrets.values(), strict=True)
                if secrets.given(name)
            ),
            hints=HINTS,
        )
        done = {
            "deployment": redact_url(args.target_url or args.prometheus_url),
            "prometheus": prometheus.shown_url,
        }
        yield sources, done


def run(args: argparse.Namespace, kind: str) -> int:
    from readiness_harness.monitoring import reviews
    from readiness_harness.monitoring.review_report import MARKS, write_review

    interrupts.install()
    feature = Path(args.features_dir) / "monitoring.feature"
    if not feature.is_file():
        _print(f"readiness {kind}: no {feature}: give --features-dir (the thresholds live in its tables)")
        return EXIT_USAGE
    thresholds = reviews.thresholds_from_feature(feature)
    output = Path(args.output or PROJECT_ROOT / "reports" / kind)
    try:
        with (
            deployed_sources(args) if args.prometheus_url else embedded_sources(args, kind) as (
                sources,
                done,
            )
        ):
            _print(f"[{kind}] running the {kind} {'checks' if kind == 'daily' else 'review'}")
            review = (reviews.daily if kind == "daily" else reviews.weekly)(sources, thresholds)
            review.sources = {**done, **_described(sources)}
    except KeyboardInterrupt as error:
        return interrupts.report(f"stopped the {kind} job and what it started", error)
    written = write_review(review, output)
    _print("")
    for check in review.checks:
        _print(f"  [{MARKS[check.status]}] {check.name}: {check.summary}")
    for warning in review.warnings:
        _print(f"  warning: {warning}")
    _print(
        f"\nreport: {written.markdown} and {written.json}"
        + (f" ({len(written.plots)} plots)" if written.plots else "")
    )
    if review.breaches:
        _print(f"BREACH: {', '.join(check.name for check in review.breaches)}: read the report, fix, rerun")
        return EXIT_BREACH
    not_measured = [check.name for check in review.checks if check.status == reviews.NOT_MEASURED]
    if not_measured:
        _print(
            f"no breach; not measured: {', '.join(not_measured)} (the report says which option gives each)"
        )
    else:
        _print("no breach")
    return 0


def _described(sources: Any) -> dict[str, Any]:
    return {
        "logs": sources.logs.where if sources.logs else "not given",
        "drill reports": str(sources.drill_dir) if sources.drill_dir else "not given",
        "backup folder": str(sources.backup_dir) if sources.backup_dir else "not given",
        **({"security report": str(sources.security_report)} if sources.security_report else {}),
    }
