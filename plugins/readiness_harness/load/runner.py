"""Running Locust: headless in one process, or one master and N workers on this machine
(and workers on other machines that join it), then the exactly-once check and the verdict.

Every Locust process runs in a process group of its own, started with the secrets in its
environment (never on a command line). `run_load()` stops every process it started on
Ctrl-C or SIGTERM (the caller turns those into KeyboardInterrupt), on a timeout, and when a
process fails; the master's port is bound to loopback unless told otherwise.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from readiness_harness.load.exactly_once import check_exactly_once
from readiness_harness.load.figures import (
    Check,
    Criteria,
    LocustStatsError,
    figures,
    judge,
    read_locust_stats,
)
from readiness_harness.load.ledger import Ledger
from readiness_harness.load.plan import LoadPlan
from readiness_harness.load.result import LoadResult, build_result
from readiness_harness.settings.secrets import Secrets, redact_url, scrub
from readiness_harness.target.embedded import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STARTUP_SECONDS = 60.0
"""Beyond the planned time: process start, workers connecting, pre-signing, the ledgers."""
REPORT_FILES = (
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "locust.html",
    "ledger.json",
    "plan.json",
    "load.json",
    "locust.log",
)


class LoadRunError(RuntimeError):
    """Locust did not run to the end; the message says what happened and where the log is."""


@dataclass
class Distribution:
    """How the load is generated: local worker processes, and workers joining from elsewhere."""

    workers: int = 0
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int | None = None

    @property
    def distributed(self) -> bool:
        return self.workers + self.remote_workers > 0

    @property
    def processes(self) -> int:
        return max(1, self.workers + self.remote_workers)

    def describe(self) -> str:
        if not self.distributed:
            return "one Locust process"
        remote = f" (+{self.remote_workers} on other machines)" if self.remote_workers else ""
        return f"one Locust master and {self.workers} worker processes on this machine{remote}"


@dataclass
class LoadRun:
    plan: LoadPlan
    output: Path
    secrets: Secrets = field(repr=False)
    distribution: Distribution = field(default_factory=Distribution)
    criteria: Criteria = field(default_factory=Criteria)
    echo: Callable[[str], None] | None = None
    """Where progress lines go (the CLI prints them); None keeps them in locust.log only."""


def _common(run: LoadRun) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "INFO"]


def master_command(run: LoadRun, port: int) -> list[str]:
    plan = run.plan
    out = run.output
    command = [
        *_common(run),
        "--headless",
        "--host",
        plan.target_url,
        "--users",
        str(plan.users),
        "--spawn-rate",
        str(plan.spawn_rate),
        "--stop-timeout",
        f"{math.ceil(plan.timeout_seconds)}s",
        "--exit-code-on-error",
        "0",
        "--csv",
        str(out / "locust"),
        "--csv-full-history",
        "--html",
        str(out / "locust.html"),
        "--readiness-plan",
        str(out / "plan.json"),
        "--readiness-ledger",
        str(out / "ledger.json"),
    ]
    if run.distribution.distributed:
        command += [
            "--master",
            "--master-bind-host",
            run.distribution.master_bind_host,
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(run.distribution.processes),
            "--expect-workers-max-wait",
            str(int(STARTUP_SECONDS)),
        ]
    return command


def worker_command(master_host: str, master_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--loglevel",
        "INFO",
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
    ]


def child_environment(secrets: Secrets, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a Locust process: this one's, with the secrets it signs with."""
    env = dict(os.environ if base is None else base)
    env.update(secrets.service_environment())
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Processes:
    """The Locust processes of a run; `stop()` ends every one (its whole process group)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, command: list[str], env: Mapping[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append(process)
        return process

    def stop(self, grace: float = 15.0) -> None:
        for process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.started:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _follow(log_path: Path, position: int, echo: Callable[[str], None] | None) -> int:
    """Echo the log's new complete lines; return the new position."""
    if echo is None or not log_path.exists():
        return position
    with log_path.open("rb") as handle:
        handle.seek(position)
        chunk = handle.read()
    end = chunk.rfind(b"\n")
    if end < 0:
        return position
    for line in chunk[: end + 1].decode(errors="replace").splitlines():
        echo(scrub(line))
    return position + end + 1


def prepare_output(folder: Path) -> None:
    """The report folder, with the files of a previous run removed (only the ones it writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in REPORT_FILES:
        (folder / name).unlink(missing_ok=True)


def run_locust(run: LoadRun) -> int:
    """Run Locust to the end of the plan; returns the master's exit code."""
    prepare_output(run.output)
    run.plan.write(run.output / "plan.json")
    distribution = run.distribution
    port = distribution.master_port or free_port()
    env = child_environment(run.secrets)
    log_path = run.output / "locust.log"
    processes = Processes()
    limit = run.plan.run_seconds + run.plan.timeout_seconds + 2 * STARTUP_SECONDS
    position = 0
    with log_path.open("ab") as log:
        try:
            master = processes.start(master_command(run, port), env, log)
            for _ in range(distribution.workers):
                processes.start(worker_command("127.0.0.1", port), env, log)
            deadline = time.monotonic() + limit
            while master.poll() is None:
                if time.monotonic() > deadline:
                    raise LoadRunError(
                        f"Locust did not finish within {limit:.0f}s: stopped it; see {log_path}"
                    )
                for worker in processes.started[1:]:
                    if worker.poll() not in (None, 0):
                        raise LoadRunError(
                            f"a Locust worker exited with {worker.returncode}: stopped the run; "
                            f"see {log_path}"
                        )
                position = _follow(log_path, position, run.echo)
                time.sleep(0.5)
            for worker in processes.started[1:]:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.wait(timeout=20)
        finally:
            processes.stop()
            _follow(log_path, position, run.echo)
    return master.returncode


def run_load(run: LoadRun, verify: ssl.SSLContext | bool = True) -> LoadResult:
    """Locust, then the exactly-once check on every payment it sent, then the verdict
    (written to `load.json` beside Locust's CSV and HTML reports)."""
    started_at = datetime.now(UTC)
    code = run_locust(run)
    log_path = run.output / "locust.log"
    if code != 0:
        raise LoadRunError(f"Locust exited with {code}; see {log_path}")
    ledger_path = run.output / "ledger.json"
    if not ledger_path.is_file():
        raise LoadRunError(f"Locust ended without writing its ledger {ledger_path}; see {log_path}")
    ledger = Ledger.read(ledger_path)
    try:
        stats = read_locust_stats(run.output / "locust_stats.csv")
    except LocustStatsError as exc:
        raise LoadRunError(f"{exc}; see {log_path}") from exc
    measured = figures(stats, ledger)
    if run.echo:
        run.echo(f"checking exactly-once on {len(ledger.records)} payments through the admin API ...")
    held = check_exactly_once(ledger, run.plan.target_url, run.secrets, verify, run.plan.pack_size)
    checks = judge(measured, held.held, held.summary(), run.criteria)
    expected = run.distribution.processes
    if ledger.processes < expected:
        checks.insert(0, judge_missing_ledgers(ledger.processes, expected))
    notes = []
    if ledger.stale:
        notes.append(f"{ledger.stale} pre-signed deliveries aged past their window and were not sent")
    result = build_result(
        target=redact_url(run.plan.target_url),
        mode=run.distribution.describe(),
        plan={key: value for key, value in run.plan.to_json().items() if key != "extra"},
        started_at=started_at,
        figures=measured.to_json(),
        exactly_once=held.to_json(),
        checks=checks,
        reports={
            "html": str(run.output / "locust.html"),
            "csv": str(run.output / "locust_stats.csv"),
            "ledger": str(ledger_path),
            "log": str(log_path),
        },
        notes=notes,
    )
    result.write(run.output)
    return result


def judge_missing_ledgers(received: int, expected: int) -> Check:
    return Check(
        "every worker's ledger",
        False,
        f"ledgers from {received} of {expected} load-generating processes arrived: the payments of the "
        "others were not checked",
    )
