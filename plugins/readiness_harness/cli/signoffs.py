"""`readiness signoffs`: fail before sign-offs and waivers lapse, not on the day they do.

The checklist's human items (attestations.yml) expire max_age_days after they were signed,
and waivers (waivers.yml, including vulnerability waivers) on their `expires` date; from
then on the verdict fails on every fresh clone. The weekly workflow runs this command so
maintainers hear about it two weeks ahead.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from readiness_harness.paths import PROJECT_ROOT

DEFAULT_WITHIN_DAYS = 14


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "signoffs",
        help="list sign-offs and waivers with their expiry; fail when one lapses soon",
        description="List every attestation, waiver and vulnerability waiver with the day it "
        "expires. Exit 1 when one has expired or expires within --within days (default 14), 2 "
        "when a file cannot be read, else 0.",
    )
    parser.add_argument(
        "--attestations",
        default=os.environ.get("READINESS_ATTESTATIONS") or str(PROJECT_ROOT / "attestations.yml"),
        help="attestations file (default: attestations.yml) [env READINESS_ATTESTATIONS]",
    )
    parser.add_argument(
        "--waivers",
        default=os.environ.get("READINESS_WAIVERS") or str(PROJECT_ROOT / "waivers.yml"),
        help="waivers file (default: waivers.yml) [env READINESS_WAIVERS]",
    )
    parser.add_argument(
        "--within",
        type=int,
        default=DEFAULT_WITHIN_DAYS,
        metavar="DAYS",
        help=f"fail when something expires within DAYS days (default {DEFAULT_WITHIN_DAYS})",
    )
    parser.set_defaults(handler=signoffs)


def signoffs(args: argparse.Namespace) -> int:
    from readiness_harness.evidence.security_report import SecurityReportError, load_vulnerability_waivers
    from readiness_harness.report.signoff import SignoffFileError, load_attestations, load_waivers

    if args.within < 0:
        print("readiness signoffs: --within must be zero or more days", file=sys.stderr)
        return 2
    today = date.today()
    try:
        attestations = load_attestations(Path(args.attestations))
        waivers = load_waivers(Path(args.waivers), every_target=True)
        vulnerability_waivers = load_vulnerability_waivers(Path(args.waivers))
    except (SignoffFileError, SecurityReportError) as exc:
        print(f"readiness signoffs: {exc}", file=sys.stderr)
        return 2
    entries: list[tuple[str, date]] = [
        (f"sign-off of {item.item!r} by {item.who}", item.expires(attestations.max_age_days))
        for item in attestations.items.values()
    ]
    entries += [(f"waiver for {waiver.names} by {waiver.owner}", waiver.expires) for waiver in waivers]
    entries += [(f"waiver for vulnerability {w.id} by {w.owner}", w.expires) for w in vulnerability_waivers]
    lapsing = 0
    for what, expires in sorted(entries, key=lambda entry: entry[1]):
        left = (expires - today).days
        if left < 0:
            mark, note = "EXPIRED", f"expired on {expires.isoformat()}: renew or remove it"
        elif left <= args.within:
            mark, note = "SOON", f"expires on {expires.isoformat()} (in {left} days): renew it"
        else:
            mark, note = "ok", f"valid until {expires.isoformat()} ({left} days)"
        lapsing += mark != "ok"
        print(f"[{mark}] {what}: {note}")
    if not entries:
        print("no sign-offs or waivers")
    if lapsing:
        print(
            f"readiness signoffs: {lapsing} sign-off(s) or waiver(s) expired or expire within "
            f"{args.within} days; renew them in {args.attestations} / {args.waivers}",
            file=sys.stderr,
        )
        return 1
    return 0
