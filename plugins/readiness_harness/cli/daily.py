"""`readiness daily`: the checklist's Daily checks as a job with a dated report."""

from __future__ import annotations

import argparse

from readiness_harness.cli import review_job


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "daily",
        help="the daily checks: delivery logs, success rates, error logs, backups, health",
        description="Run the checklist's Daily checks over the last 24 hours: webhook processing "
        "logs (every delivery logged with its fields, no secret), payment success rates, error logs "
        "review (error lines, unhandled errors, error rate), backup verification (newest backup "
        "young enough, checksum, private folder, retention) and system health (/status, every "
        "instance up, uptime, no paging alert). Thresholds come from the checklist's "
        "features/monitoring.feature. Writes reports/daily/daily_<date>.md and .json. Without "
        "--prometheus-url it runs on the embedded reference deployment with real Prometheus, "
        "Alertmanager and node_exporter, a burst of synthetic deliveries and a fresh backup. "
        "Exit 0 when nothing breached, 1 on a breach, 2 on bad usage, 130/143 when interrupted.",
    )
    review_job.add_arguments(parser, weekly=False)
    parser.set_defaults(handler=daily)


def daily(args: argparse.Namespace) -> int:
    return review_job.run(args, "daily")
