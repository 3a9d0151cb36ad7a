"""`readiness`: serve the reference service, run the checklist, run the restore drill,
build the report, run the PayPal stand-in, load-test the target, run the daily checks and
the weekly review."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from readiness_harness.cli import (
    check,
    checklist_map,
    daily,
    drill,
    load,
    paypal,
    report,
    security_scan,
    serve,
    serve_control,
    signoffs,
    weekly,
)
from readiness_harness.settings.secrets import guard_stream, remember_environment


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="readiness",
        description="Production-readiness checklist for the card-pack payment service.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_parser(commands)
    serve_control.add_parser(commands)
    check.add_parser(commands)
    drill.add_parser(commands)
    report.add_parser(commands)
    paypal.add_parser(commands)
    load.add_parser(commands)
    daily.add_parser(commands)
    weekly.add_parser(commands)
    security_scan.add_parser(commands)
    signoffs.add_parser(commands)
    checklist_map.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Whatever this process prints (Ansible's streamed output, a traceback) is scrubbed of
    # the secrets it was given and the ones it makes; `check` runs pytest, which scrubs its own.
    remember_environment()
    sys.stdout, sys.stderr = guard_stream(sys.stdout), guard_stream(sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1 :]
    args = build_parser().parse_args(argv)
    if args.command == "check":
        return check.check(args, extra)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
