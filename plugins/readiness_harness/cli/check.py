"""`readiness check`: run the checklist in a pytest process, then print every line and the verdict.

Every option of the settings table is accepted directly (and still after `--`, with
anything else for pytest). The pytest process runs in a session of its own, so a Ctrl-C
reaches it exactly once, through this process: it stops every server it started, undoes
every outage, removes its temporary folders, and the command exits 130 (143 on SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.report import verdict
from readiness_harness.settings.options import OPTIONS, SECTIONS, cli_arguments, environment_variables
from readiness_harness.settings.secrets import IDENTIFIER_ENVIRONMENT, SECRET_ENVIRONMENT

MARKS = {
    "verified": "PASS",
    "attested": "ATTESTED",
    "waived": "WAIVED",
    "failed": "FAIL",
    "not measured": "NOT MEASURED",
    "not applicable": "N/A",
}
PREFLIGHT_EXIT = 2


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    secrets = ", ".join(SECRET_ENVIRONMENT + IDENTIFIER_ENVIRONMENT)
    parser = commands.add_parser(
        "check",
        help="run every checklist line against the target and print the verdict",
        description="Run the feature files against the embedded default (or --target-url), print "
        "every checklist line's state and the verdict. Exit 0 only when the release is ready; 1 "
        "when lines block it; 2 when the run could not start (unreachable target, bad options); "
        "130/143 when interrupted. Arguments after `--` go to pytest.",
        epilog=f"Secrets come from the environment only, never from flags: {secrets}. Every option "
        "above can also be given by its environment variable: "
        f"{', '.join(environment_variables())}. See README.md, 'A target guide', for what each "
        "line needs from a deployment.",
    )
    parser.add_argument(
        "--features",
        default=str(PROJECT_ROOT / "features"),
        help="folder of .feature files to run (default: the checklist)",
    )
    parser.add_argument(
        "--output",
        default=str(PROJECT_ROOT / "reports"),
        help="folder for readiness.json, readiness-summary.md and allure-results (default: reports/)",
    )
    parser.add_argument(
        "-m", dest="marker", default=None, help="only run lines with this tag expression (e.g. smoke)"
    )
    groups = {section: parser.add_argument_group(title) for section, title in SECTIONS.items()}
    for option in OPTIONS:
        if option.name == "features_dir":
            continue  # --features above sets it
        group = groups[option.section]
        help_text = option.help + option.env_note
        if option.kind == "flag":
            group.add_argument(
                option.flag, dest=option.name, action="store_true", default=None, help=help_text
            )
        else:
            group.add_argument(
                option.flag, dest=option.name, default=None, metavar=option.metavar, help=help_text
            )
    parser.set_defaults(handler=None)


class _Forward:
    """Signals to this process go to the pytest process once, and are remembered."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            if self.child is not None and self.child.poll() is None:
                self.child.send_signal(signum)


def _pytest_command(args: argparse.Namespace, features: Path, readiness_json: Path) -> list[str]:
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
    values = {option.name: getattr(args, option.name, None) for option in OPTIONS}
    if not values.get("reports_dir"):
        values["reports_dir"] = str(readiness_json.parent)  # every piece of evidence of this run together
    command += cli_arguments(values)
    if args.marker:
        command += ["-m", args.marker]
    return command


def check(args: argparse.Namespace, extra: Sequence[str]) -> int:
    features = Path(args.features).resolve()
    if not features.is_dir():
        print(f"readiness check: no features folder at {features}", file=sys.stderr)
        return 2
    readiness_json = Path(args.output).resolve() / "readiness.json"
    readiness_json.unlink(missing_ok=True)
    forward = _Forward()
    previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        forward.child = subprocess.Popen(
            [*_pytest_command(args, features, readiness_json), *extra],
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        pytest_exit = forward.child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if forward.received is not None:
        name = signal.Signals(forward.received).name
        print(
            f"interrupted ({name}): the checklist run stopped; it stopped what it had started",
            file=sys.stderr,
        )
        return 143 if forward.received == signal.SIGTERM else 130
    if not readiness_json.exists():
        print(
            f"NOT READY: the checklist run ended (pytest exit {pytest_exit}) without writing "
            "readiness.json; the message above says why."
        )
        return PREFLIGHT_EXIT if pytest_exit in (2, 3, 4) else (pytest_exit or 2)
    return _print_verdict(verdict.read(readiness_json), readiness_json, args.marker, pytest_exit)


def _print_verdict(
    data: dict[str, object], readiness_json: Path, marker: str | None, pytest_exit: int
) -> int:
    all_lines: list[dict[str, object]] = data["lines"]  # type: ignore[assignment]
    lines = [line for line in all_lines if line["selected"]] if marker else all_lines
    print()
    print("=" * 72)
    print(f"READINESS CHECKLIST ({data['target']})")
    area = None
    for line in lines:
        if line["area"] != area:
            area = line["area"]
            print(f"\n{area}")
        state = str(line["state"])
        print(f"  [{MARKS.get(state, state)}] {line['scenario']} ({line['summary']})")
        if state in ("failed", "not measured"):
            for message in list(line["messages"])[:2]:  # type: ignore[call-overload]
                print(f"      {str(message)[:300]}")
    print(f"\nevidence: {readiness_json} and {readiness_json.with_name('readiness-summary.md')}")
    if marker:
        blocking = [line for line in lines if line["state"] not in verdict.ACCEPTABLE]
        if lines and not blocking and pytest_exit in (0, 1):
            print(
                f"ALL {len(lines)} SELECTED LINES PASSED (partial run, -m {marker!r}; "
                f"{len(all_lines) - len(lines)} lines not run): not a production-readiness verdict."
            )
            return 0
        print(f"NOT READY: {len(blocking)} of {len(lines)} selected lines did not pass.")
        for line in blocking:
            print(f"  - {line['state']}: {line['scenario']}")
        if not lines:
            print("  no checklist lines were selected: check the -m expression")
        return 1
    for text in verdict.banner(data):
        print(text)
    if data["ready"] and pytest_exit in (0, 1):
        return 0
    return 1
