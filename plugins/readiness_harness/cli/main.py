"""`readiness`: serve the reference service, run the checklist, run the restore drill."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.report import verdict
from readiness_harness.settings.options import load_secrets, redact


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(args: argparse.Namespace) -> int:
    from readiness_harness.target.stack import embedded_stack  # the service stack is only needed to serve

    secrets = load_secrets()
    _stop_on_sigterm()
    try:
        with embedded_stack(
            secrets,
            os.environ.get("DATABASE_URL") or None,
            os.environ.get("REDIS_URL") or None,
            port=args.port,
        ) as target:
            print(f"SERVICE_URL={target.url}")
            print(f"DATABASE_URL={redact(target.database_url or '')}")
            print(f"REDIS_URL={redact(target.redis_url or '')}")
            for name in secrets.generated:
                print(f"{name}={secrets.service_environment()[name]}")
            print("ready; Ctrl-C or SIGTERM stops the service and the embedded servers", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    return 0


MARKS = {"verified": "PASS", "attested": "ATTESTED", "waived": "WAIVED", "failed": "FAIL"}


def check(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Run the feature files in a pytest subprocess, then judge from its readiness.json."""
    features = Path(args.features).resolve()
    if not features.is_dir():
        print(f"readiness check: no features folder at {features}", file=sys.stderr)
        return 2
    readiness_json = Path(args.output).resolve() / "readiness.json"
    readiness_json.unlink(missing_ok=True)
    # The project's configuration always; the rootdir is the checklist's folder when it
    # lies outside the project (reporters resolve test paths relative to the rootdir).
    rootdir = PROJECT_ROOT if features.is_relative_to(PROJECT_ROOT) else features.parent
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(features),
        f"--features-dir={features}",
        f"--rootdir={rootdir}",
        "-c",
        str(PROJECT_ROOT / "pyproject.toml"),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--readiness-json={readiness_json}",
        f"--alluredir={readiness_json.parent / 'allure-results'}",
        "--clean-alluredir",
    ]
    if args.target_url:
        command.append(f"--target-url={args.target_url}")
    if args.inventory:
        command.append(f"--inventory={Path(args.inventory).resolve()}")
    if args.marker:
        command += ["-m", args.marker]
    pytest_exit = subprocess.run([*command, *extra], cwd=PROJECT_ROOT, check=False).returncode
    if not readiness_json.exists():
        print(
            f"NOT READY: the checklist run ended (pytest exit {pytest_exit}) without "
            "writing readiness.json; read the pytest output above."
        )
        return pytest_exit or 2
    data = verdict.read(readiness_json)
    lines = data["lines"]
    if args.marker:
        lines = [line for line in lines if line["selected"]]
    print()
    print("=" * 72)
    print(f"READINESS CHECKLIST ({data['target']})")
    area = None
    for line in lines:
        if line["area"] != area:
            area = line["area"]
            print(f"\n{area}")
        print(f"  [{MARKS.get(line['state'], '----')}] {line['scenario']} ({line['summary']})")
    print(f"\nevidence: {readiness_json} and {readiness_json.with_name('readiness-summary.md')}")
    if args.marker:
        blocking = [line for line in lines if line["state"] not in verdict.ACCEPTABLE]
        if lines and not blocking and pytest_exit in (0, 1):
            print(
                f"ALL {len(lines)} SELECTED LINES PASSED (partial run, -m {args.marker!r}; "
                f"{len(data['lines']) - len(lines)} lines not run): not a production-readiness "
                "verdict."
            )
            return 0
        print(f"NOT READY: {len(blocking)} of {len(lines)} selected lines did not pass.")
        for line in blocking:
            print(f"  - {line['state']}: {line['scenario']}")
        if not lines:
            print("  no checklist scenarios were selected: check the -m expression")
        return pytest_exit or 1
    for text in verdict.banner(data):
        print(text)
    if data["ready"] and pytest_exit in (0, 1):
        return 0
    return pytest_exit if pytest_exit > 1 else 1


def drill(args: argparse.Namespace) -> int:
    """Backup, then restore drill, against DATABASE_URL/REDIS_URL or embedded servers."""
    import contextlib
    import tempfile

    from readiness_harness.drill.demo_data import seed_if_empty
    from readiness_harness.drill.playbooks import DrillError, run_playbook
    from readiness_harness.target.embedded import EmbeddedPostgres, EmbeddedRedis, pg_bin_dir_for_wheel

    with contextlib.ExitStack() as stack:
        database_url = os.environ.get("DATABASE_URL") or None
        redis_url = os.environ.get("REDIS_URL") or None
        pg_bin_dir = os.environ.get("PG_BIN_DIR") or None
        if database_url is None:
            print("[drill] starting an embedded PostgreSQL", flush=True)
            postgres = EmbeddedPostgres()
            stack.callback(postgres.cleanup)
            postgres.start()
            database_url, pg_bin_dir = postgres.url, str(postgres.bin_dir)
        if redis_url is None:
            print("[drill] starting an embedded Redis", flush=True)
            redis_server = EmbeddedRedis()
            stack.callback(redis_server.cleanup)
            redis_server.start()
            redis_url = redis_server.url
        backup_path = os.environ.get("BACKUP_PATH") or stack.enter_context(
            tempfile.TemporaryDirectory(prefix="readiness-backups-")
        )
        created = seed_if_empty(database_url)
        if created:
            print(f"[drill] the database was empty: seeded {created} demo purchases", flush=True)
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BACKUP_PATH": backup_path,
            "PG_BIN_DIR": pg_bin_dir or str(pg_bin_dir_for_wheel()),
        }
        try:
            for step, playbook in enumerate(("backup", "restore_drill"), start=1):
                print(f"[drill] step {step}/2: ansible-playbook playbooks/{playbook}.yml", flush=True)
                run = run_playbook(playbook, env, quiet=False)
                if not run.ok:
                    print(
                        f"[drill] FAILED: playbooks/{playbook}.yml exited {run.rc}; the "
                        "messages above say which check failed and what to do",
                        flush=True,
                    )
                    return run.rc or 1
        except DrillError as exc:
            print(f"[drill] FAILED: {exc}", flush=True)
            return 2
        if run.report_path is not None:
            print(f"[drill] drill report: {run.report_path}", flush=True)
    return 0


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
    print(f"[report] building the Allure report from {results}", flush=True)
    try:
        output = build_report(results, Path(args.output).resolve(), history)
    except (AllureUnavailable, AllureReportError) as exc:
        print(f"readiness report: {exc}", file=sys.stderr)
        return 2
    print(f"[report] {output / 'index.html'} (offline: no analytics, no outside calls)")
    if history:
        print(f"[report] history kept in {history}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="readiness",
        description="Production-readiness checklist for the card-pack payment service.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve",
        help="run the reference service on the embedded default until Ctrl-C",
        description="Start PostgreSQL and Redis (unless DATABASE_URL/REDIS_URL are set) and "
        "the reference service on 127.0.0.1, print SERVICE_URL/DATABASE_URL/REDIS_URL and any "
        "generated secret, and stop everything on SIGINT or SIGTERM.",
    )
    serve_cmd.add_argument(
        "--port", type=int, default=None, help="port for the service (default: a free one)"
    )

    check_cmd = commands.add_parser(
        "check",
        help="run every checklist scenario and print the verdict",
        description="Run the feature files against the embedded default (or --target-url), "
        "print pass/fail for every checklist line and the verdict. Exit 0 only when every "
        "line passed. Arguments after `--` go to pytest.",
    )
    check_cmd.add_argument(
        "--target-url",
        default=os.environ.get("READINESS_TARGET_URL"),
        help="base URL of a deployed service [env READINESS_TARGET_URL]",
    )
    check_cmd.add_argument(
        "--inventory",
        default=os.environ.get("READINESS_INVENTORY"),
        help="Ansible inventory of the fleet: the backup and restore-drill lines run on every "
        "host of its database_primary group, one example per host [env READINESS_INVENTORY]",
    )
    check_cmd.add_argument(
        "--features",
        default=str(PROJECT_ROOT / "features"),
        help="folder of .feature files to run (default: the checklist)",
    )
    check_cmd.add_argument(
        "--output",
        default=str(PROJECT_ROOT / "reports"),
        help="folder for readiness.json and readiness-summary.md (default: reports/)",
    )
    check_cmd.add_argument(
        "-m", dest="marker", default=None, help="only run scenarios with this tag expression (e.g. smoke)"
    )
    commands.add_parser(
        "drill",
        help="take a backup and run the restore drill (embedded servers by default)",
        description="Take a backup with playbooks/backup.yml and run playbooks/restore_drill.yml "
        "on it. Uses DATABASE_URL, REDIS_URL, BACKUP_PATH and PG_BIN_DIR when set; otherwise "
        "starts embedded PostgreSQL and Redis (seeding demo data into an empty database) and "
        "keeps the backups in a temporary folder. Exit 0 only when the drill passed.",
    )
    report_cmd = commands.add_parser(
        "report",
        help="build the Allure HTML readiness report (offline) from the last check",
        description="Build the HTML report with Allure 3 (installed from npm on first use) from "
        "the results `readiness check` wrote. Pass --history with the same file every run to "
        "keep trends between runs (CI caches it).",
    )
    report_cmd.add_argument(
        "--results",
        default=str(PROJECT_ROOT / "reports" / "allure-results"),
        help="Allure results folder (default: reports/allure-results)",
    )
    report_cmd.add_argument(
        "--output",
        default=str(PROJECT_ROOT / "reports" / "allure-report"),
        help="where the HTML report goes (default: reports/allure-report)",
    )
    report_cmd.add_argument(
        "--history",
        default=str(PROJECT_ROOT / "reports" / "allure-history.jsonl"),
        help="history file kept between runs (default: reports/allure-history.jsonl; '' for none)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "drill":
        return drill(args)
    if args.command == "report":
        return report(args)
    return check(args, extra)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
