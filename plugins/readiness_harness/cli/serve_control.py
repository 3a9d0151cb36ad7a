"""`readiness serve-control SOCKET stop|start PART`: the command the hooks file of
`readiness serve --outage-hooks-file` runs; exit 0 when the part was stopped or started."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve-control",
        help="stop or start a part of a running `readiness serve` (its outage hooks run this)",
        description="Ask a `readiness serve` started with --outage-hooks-file to stop or start its "
        "PostgreSQL (database), Redis (cache) or service process (service: killed with SIGKILL, as a "
        "crash). Exit 0 once done; 1 with the reason when the part could not be stopped or started, "
        "or no serve answers on SOCKET.",
    )
    parser.add_argument("socket", help="the control socket serve printed (CONTROL_SOCKET=...)")
    parser.add_argument("action", choices=("stop", "start"))
    parser.add_argument("part", choices=("database", "cache", "service"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from readiness_harness.target.serve_control import ServeControlError, request

    try:
        request(Path(args.socket), args.action, args.part)
    except ServeControlError as exc:
        print(f"readiness serve-control: {args.action} {args.part}: {exc}", file=sys.stderr)
        return 1
    print(f"{args.part}: {'stopped' if args.action == 'stop' else 'started'}")
    return 0
