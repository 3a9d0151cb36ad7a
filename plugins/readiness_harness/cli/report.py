"""`readiness report`: the Allure HTML readiness report, built offline from the last check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from readiness_harness.paths import PROJECT_ROOT


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "report",
        help="build the Allure HTML readiness report (offline) from the last check",
        description="Build the HTML report with Allure 3 (installed from npm on first use) from "
        "the results `readiness check` wrote. Pass --history with the same file every run to "
        "keep trends between runs (CI caches it).",
    )
    parser.add_argument(
        "--results",
        default=str(PROJECT_ROOT / "reports" / "allure-results"),
        help="Allure results folder (default: reports/allure-results)",
    )
    parser.add_argument(
        "--output",
        default=str(PROJECT_ROOT / "reports" / "allure-report"),
        help="where the HTML report goes (default: reports/allure-report)",
    )
    parser.add_argument(
        "--history",
        default=str(PROJECT_ROOT / "reports" / "allure-history.jsonl"),
        help="history file kept between runs (default: reports/allure-history.jsonl; '' for none)",
    )
    parser.set_defaults(handler=report)


def report(args: argparse.Namespace) -> int:
    """The Allure HTML report from the last check's results, built offline."""
    from readiness_harness.report.allure_report import AllureReportError, AllureUnavailable, build_report

    results = Path(args.results).resolve()
    if not results.is_dir() or not any(results.iterdir()):
        print(
            f"readiness report: no Allure results in {results}; run `readiness check` first", file=sys.stderr
        )
        return 2
    history = Path(args.history).resolve() if args.history else None
    name = _report_name(results.parent / "readiness.json")
    print(f"[report] building the Allure report {name!r} from {results}", flush=True)
    try:
        output = build_report(results, Path(args.output).resolve(), history, name=name)
    except (AllureUnavailable, AllureReportError) as exc:
        print(f"readiness report: {exc}", file=sys.stderr)
        return 2
    print(f"[report] {output / 'index.html'} (offline: no analytics, no outside calls)")
    if history:
        print(f"[report] history kept in {history}")
    return 0


def _report_name(readiness_json: Path) -> str:
    """The report's title says what the run was: the verdict, or that it was partial."""
    from readiness_harness.report import verdict

    if not readiness_json.exists():
        return "Production readiness"
    data = verdict.read(readiness_json)
    if data.get("partial"):
        return "Production readiness: PARTIAL RUN (tag-filtered, not a verdict)"
    return "Production readiness: " + ("PRODUCTION READY" if data.get("ready") else "NOT READY")
