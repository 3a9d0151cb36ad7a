"""`readiness weekly`: the checklist's Weekly reviews as a job with a dated report and plots."""

from __future__ import annotations

import argparse

from readiness_harness.cli import review_job


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "weekly",
        help="the weekly review: drills, performance, security scan, error trend, capacity",
        description="Run the checklist's Weekly reviews over the last 7 days: restore drill results "
        "(every drill of the week passed; RTO growing week over week beyond the allowed share is a "
        "warning; RTO and RPO of every drill plotted), performance metrics (p99 latency and success "
        "rate per day, plotted), security scan results (--security-report: recent, no open "
        "finding), error trend analysis (error rate per day against the week before, plotted) and "
        "capacity planning (peak rate against --capacity-rps, backup disk headroom). Thresholds "
        "come from the checklist's features/monitoring.feature. Writes reports/weekly/"
        "weekly_<date>.md and .json with SVG plots beside them. Without --prometheus-url it runs on "
        "the embedded reference deployment (real Prometheus, Alertmanager, node_exporter) and reads "
        "the drill history in reports/drill. Exit 0 when nothing breached, 1 on a breach, 2 on bad "
        "usage, 130/143 when interrupted.",
    )
    review_job.add_arguments(parser, weekly=True)
    parser.set_defaults(handler=weekly)


def weekly(args: argparse.Namespace) -> int:
    return review_job.run(args, "weekly")
