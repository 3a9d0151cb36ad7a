"""`readiness load`: a Locust load test of the target's webhooks, the exactly-once check on
every payment it sent, and a verdict (printed, and written as load.json).

Without --target-url it starts the embedded default (plain HTTP on loopback) and stops it
afterwards. `--workers N` runs one Locust master and N worker processes on this machine;
`--join HOST:PORT` makes this machine a worker of a master elsewhere. Ctrl-C or SIGTERM
stops every process the command started (exit 130/143).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

from readiness_harness.cli import interrupts
from readiness_harness.load.figures import Criteria
from readiness_harness.load.plan import LoadPlan, PlanError
from readiness_harness.load.result import LoadResult
from readiness_harness.load.runner import (
    Distribution,
    LoadRun,
    LoadRunError,
    Processes,
    run_load,
    worker_command,
)
from readiness_harness.load.targeting import signable_gateways
from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.settings.options import GATEWAY_NAMES, split_list
from readiness_harness.settings.secrets import Secrets, load_secrets, redact_url
from readiness_harness.target.resolve import TargetUnreachable, read_status
from readiness_harness.target.stack import embedded_stack
from readiness_harness.target.target import gateways_from_status

USAGE_EXIT = 2
INCOMPLETE = {"complete data", "every worker's ledger"}
"""Checks whose failure means the run's data is partial (exit 2, not a verdict on the target)."""
SPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def seconds(text: str) -> float:
    """`20`, `20s`, `3m`, `1h20m` -> seconds."""
    match = SPAN.match(text.strip())
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (20, 20s, 3m, 1h20m)")
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "load",
        help="load-test the target's webhooks with Locust, then check exactly-once on every payment",
        description="Run Locust headless against the target (--target-url, else the embedded default): "
        "users send uniquely signed captures of new payments, some duplicates and some refunds, all "
        "signed before the run by each load-generating process. Afterwards every payment sent is read "
        "back through the admin API (exactly one pack, none live after a refund). Locust's CSV and "
        "HTML reports, the ledger and the verdict (load.json) go to --output. Exit 0 when success is "
        "over --min-success %, p99 under --max-p99 seconds and exactly-once held; 1 when not; 2 when "
        "the run could not start or its data is incomplete; 130/143 when interrupted.",
        epilog="Secrets come from the environment only: PAYMENTS_WEBHOOK_SECRET and STRIPE_WEBHOOK_SECRET "
        "(to sign), ADMIN_TOKEN (to read purchases). Several machines: run `readiness load --workers 0 "
        "--remote-workers K --master-bind-host ADDRESS ...` on one, and `readiness load --join "
        "ADDRESS:PORT` on each of the K others (same secrets in their environment). See README.md, "
        "'Load tests'.",
    )
    target = parser.add_argument_group("target")
    target.add_argument(
        "--target-url",
        default=os.environ.get("READINESS_TARGET_URL"),
        metavar="URL",
        help="the deployment to load (default: start the embedded default) [env READINESS_TARGET_URL]",
    )
    target.add_argument(
        "--ca-bundle",
        default=os.environ.get("READINESS_CA_BUNDLE"),
        metavar="PATH",
        help="CA bundle that verifies an https target [env READINESS_CA_BUNDLE]",
    )
    target.add_argument(
        "--gateways",
        default=os.environ.get("READINESS_GATEWAYS"),
        metavar="LIST",
        help="gateways to send (default: all three on the embedded default; against a target, "
        "what its /status says, less the ones it cannot be signed for) [env READINESS_GATEWAYS]",
    )
    shape = parser.add_argument_group("the load")
    shape.add_argument("--users", type=int, default=10, help="concurrent Locust users (default 10)")
    shape.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second (default 10)")
    shape.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="deliveries per second across all users (default 20; 0: every user as fast as it can, "
        "which needs --requests)",
    )
    shape.add_argument(
        "--run-time",
        type=seconds,
        default=20.0,
        metavar="SPAN",
        help="how long to send: 20, 20s, 3m, 1h20m (default 20s)",
    )
    shape.add_argument(
        "--requests",
        type=int,
        default=None,
        help="at most this many deliveries; the run ends once they are sent",
    )
    shape.add_argument(
        "--duplicates",
        type=float,
        default=0.1,
        help="share of deliveries that repeat a recent capture (default 0.1)",
    )
    shape.add_argument(
        "--refunds",
        type=float,
        default=0.1,
        help="share of deliveries that refund an earlier payment (default 0.1)",
    )
    shape.add_argument("--pack-size", type=int, default=5, help="cards in the 'black' pack (default 5)")
    shape.add_argument(
        "--timeout", type=float, default=30.0, help="seconds one delivery may take (default 30)"
    )
    spread = parser.add_argument_group("distributed mode (Locust master and workers)")
    spread.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes on this machine under one master (default 0: one process)",
    )
    spread.add_argument(
        "--remote-workers",
        type=int,
        default=0,
        help="workers from other machines the master also waits for (they run --join)",
    )
    spread.add_argument(
        "--master-bind-host",
        default="127.0.0.1",
        help="address the master listens on for workers (default 127.0.0.1: this machine only)",
    )
    spread.add_argument(
        "--master-port", type=int, default=None, help="the master's port (default: a free one)"
    )
    spread.add_argument(
        "--join",
        default=None,
        metavar="HOST:PORT",
        help="be a worker of the master at HOST:PORT, nothing else",
    )
    verdict = parser.add_argument_group("verdict")
    verdict.add_argument(
        "--min-success", type=float, default=99.0, help="success must be over this percentage (default 99)"
    )
    verdict.add_argument(
        "--max-p99", type=float, default=5.0, help="p99 latency must be under this many seconds (default 5)"
    )
    verdict.add_argument(
        "--output",
        default=str(PROJECT_ROOT / "reports" / "load"),
        help="folder for Locust's CSV and HTML reports, the ledger and load.json (default reports/load)",
    )
    verdict.add_argument(
        "--quiet", action="store_true", help="do not echo Locust's log (it stays in locust.log)"
    )
    parser.set_defaults(handler=load)


def _fail(message: str) -> int:
    print(f"readiness load: {message}", file=sys.stderr)
    return USAGE_EXIT


@contextlib.contextmanager
def _target(
    args: argparse.Namespace, secrets: Secrets
) -> Iterator[tuple[str, Path | None, tuple[str, ...], bool]]:
    """(url, CA file, gateways it uses, embedded) of the target, started here if embedded."""
    if args.target_url:
        ca_file = Path(args.ca_bundle) if args.ca_bundle else None
        gateways = split_list(args.gateways) if args.gateways else None
        if gateways is None:
            status_code, status = read_status(args.target_url, ca_file)
            gateways = gateways_from_status(status)
            if gateways is None:
                raise PlanError(
                    f"the target's /status (HTTP {status_code}) does not say which gateways it verifies: "
                    "give --gateways"
                )
        yield args.target_url, ca_file, gateways, False
        return
    print("starting the embedded default (PostgreSQL, Redis, the reference service) ...", flush=True)
    with embedded_stack(secrets) as deployment:
        gateways = split_list(args.gateways) if args.gateways else GATEWAY_NAMES
        yield deployment.url, None, gateways, True


def _plan(args: argparse.Namespace, url: str, gateways: tuple[str, ...], ca_file: Path | None) -> LoadPlan:
    return LoadPlan(
        target_url=url,
        gateways=gateways,  # type: ignore[arg-type]  # checked by LoadPlan
        users=args.users,
        spawn_rate=args.spawn_rate,
        rate=args.rate,
        run_seconds=args.run_time,
        requests=args.requests,
        duplicate_share=args.duplicates,
        refund_share=args.refunds,
        pack_size=args.pack_size,
        processes=max(1, args.workers + args.remote_workers),
        ca_file=str(ca_file) if ca_file else None,
        timeout_seconds=args.timeout,
    )


def load(args: argparse.Namespace) -> int:
    interrupts.install()
    if args.join:
        return _join(args.join)
    secrets = load_secrets()
    if args.target_url and not secrets.given("ADMIN_TOKEN"):
        return _fail(
            "ADMIN_TOKEN is not in the environment: the exactly-once check reads the target's purchases"
        )
    output = Path(args.output).resolve()
    try:
        with _target(args, secrets) as (url, ca_file, used, embedded):
            gateways, left_out = signable_gateways(
                used,
                secrets,
                embedded=embedded,
                paypal_verified_here=bool(args.gateways and "paypal" in args.gateways),
            )
            for reason in left_out:
                print(f"readiness load: not sending {reason}", file=sys.stderr)
            plan = _plan(args, url, gateways, ca_file)
            distribution = Distribution(
                args.workers, args.remote_workers, args.master_bind_host, args.master_port
            )
            run = LoadRun(
                plan,
                output,
                secrets,
                distribution,
                Criteria(args.min_success, args.max_p99),
                echo=None if args.quiet else print,
            )
            print(
                f"load test of {redact_url(url)} ({', '.join(gateways)}): {plan.users} users, "
                f"{f'{plan.rate:g}/s' if plan.paced else 'unpaced'}, {plan.run_seconds:g}s, "
                f"{distribution.describe()}",
                flush=True,
            )
            verify = ca_file_context(ca_file)
            result = run_load(run, verify)
    except PlanError as exc:
        return _fail(str(exc))
    except TargetUnreachable as exc:
        return _fail(str(exc))
    except LoadRunError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt as error:
        return interrupts.report("stopped every Locust process and the servers this command started", error)
    return _print(result)


def ca_file_context(ca_file: Path | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=str(ca_file))


def _print(result: LoadResult) -> int:
    figures = result.figures
    print()
    print("=" * 72)
    print(
        f"LOAD TEST of {result.target} ({result.data['mode']}): {figures['requests']} deliveries for "
        f"{figures['payments']} payments at {figures['rps']:.1f}/s"
    )
    print(
        f"  latency p50 {figures['p50_ms'] / 1000:.3f}s  p95 {figures['p95_ms'] / 1000:.3f}s  "
        f"p99 {figures['p99_ms'] / 1000:.3f}s  max {figures['max_ms'] / 1000:.3f}s"
    )
    for check in result.data["checks"]:
        print(f"  [{'PASS' if check['passed'] else 'FAIL'}] {check['name']}: {check['detail']}")
    for violation in result.exactly_once["first_violations"]:
        print(f"      {violation}")
    for note in result.data["notes"]:
        print(f"  note: {note}")
    reports = result.data["reports"]
    print(f"reports: {reports['html']}, {reports['csv']}, {Path(reports['html']).with_name('load.json')}")
    if result.passed:
        print("LOAD TEST PASSED")
        return 0
    failed = [check["name"] for check in result.data["checks"] if not check["passed"]]
    print(f"LOAD TEST FAILED: {', '.join(failed)}")
    return USAGE_EXIT if set(failed) & INCOMPLETE else 1


def _join(address: str) -> int:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return _fail(f"--join wants HOST:PORT, got {address!r}")
    secrets = load_secrets()
    missing = [
        name for name in ("PAYMENTS_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET") if not secrets.given(name)
    ]
    if missing:
        print(
            f"readiness load: {', '.join(missing)} not in the environment: deliveries of those gateways "
            "will be refused by the target",
            file=sys.stderr,
        )
    from readiness_harness.load.runner import child_environment

    processes = Processes()
    try:
        worker = processes.start(
            worker_command(host, int(port)), child_environment(secrets), sys.stdout.buffer
        )
        return worker.wait()
    except KeyboardInterrupt as error:
        return interrupts.report("stopped the Locust worker", error)
    finally:
        processes.stop()
