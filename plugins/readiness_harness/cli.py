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

from .checklist import FAILED, VERIFIED, read_checklist
from .options import load_secrets, redact

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve(args: argparse.Namespace) -> int:
    from .stack import embedded_stack  # the service stack is only needed to serve

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


MARKS = {VERIFIED: "PASS", FAILED: "FAIL"}


def check(args: argparse.Namespace, extra: Sequence[str]) -> int:
    """Run the feature files in a pytest subprocess, then judge from its checklist JSON."""
    reports = PROJECT_ROOT / "reports"
    checklist_json = reports / "checklist.json"
    checklist_json.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(PROJECT_ROOT / "features"),
        f"--rootdir={PROJECT_ROOT}",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--checklist-json={checklist_json}",
    ]
    if args.target_url:
        command.append(f"--target-url={args.target_url}")
    if args.marker:
        command += ["-m", args.marker]
    pytest_exit = subprocess.run([*command, *extra], cwd=PROJECT_ROOT, check=False).returncode
    if not checklist_json.exists():
        print(
            f"NOT READY: the checklist run ended (pytest exit {pytest_exit}) without "
            "recording any result; read the pytest output above."
        )
        return pytest_exit or 2
    target, lines = read_checklist(checklist_json)
    print()
    print("=" * 72)
    print(f"READINESS CHECKLIST ({target})")
    area = None
    for line in lines:
        if line.area != area:
            area = line.area
            print(f"\n{area}")
        print(f"  [{MARKS.get(line.state, '----')}] {line.scenario} ({line.summary})")
    judged = [line for line in lines if line.selected] if args.marker else lines
    failing = [line for line in judged if line.state != VERIFIED]
    print()
    if args.marker and judged and not failing and pytest_exit == 0:
        print(
            f"ALL {len(judged)} SELECTED LINES PASSED (partial run, -m {args.marker!r}; "
            f"{len(lines) - len(judged)} lines not run): not a production-readiness verdict."
        )
        return 0
    if judged and not failing and pytest_exit == 0:
        print("PRODUCTION READY! Every checklist line passed.")
        return 0
    print(f"NOT READY: {len(failing)} of {len(judged)} checklist lines did not pass.")
    for line in failing:
        print(f"  - {line.state}: {line.scenario} ({line.feature_file}:{line.line_number})")
        for message in line.messages[:3]:
            print(f"      {message}")
    if not judged:
        print("  no checklist scenarios were collected: check the features folder and -m filter")
    return pytest_exit or 1


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
        "-m", dest="marker", default=None, help="only run scenarios with this tag expression (e.g. smoke)"
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
    return check(args, extra)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
