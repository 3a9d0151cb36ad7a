"""Run the Ansible playbooks (backup, restore drill, infrastructure check) from Python.

The playbooks run through `ansible_runner.run` (no shell), with this interpreter's `bin`
directory first on PATH so `ansible-playbook` is the venv's own, and with the caller's
connection settings (`DATABASE_URL`, `REDIS_URL`, `BACKUP_PATH`, `PG_BIN_DIR`,
`DRILL_REPORT_PATH`) layered over the current environment. ansible-runner's artifacts
go to a temporary directory that is removed before the call returns; what a caller needs
(exit code, stdout, per-task results, debug messages, the drill report) is copied into a
`PlaybookRun` first.

    run = run_playbook("restore_drill", {"DATABASE_URL": url, "REDIS_URL": redis_url,
                                         "BACKUP_PATH": backups})
    assert run.ok, run.stdout
    run.report["restore_seconds"]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readiness_harness.paths import PROJECT_ROOT

PLAYBOOKS = ("backup", "restore_drill", "verify_infra")
ACCELERATOR_ENV = "READINESS_ANSIBLE_ACCELERATOR"
"""`mitogen` runs the playbooks with mitogen's linear strategy (opt-in); empty or `none`
runs plain Ansible (with ssh pipelining)."""
ACCELERATORS = ("none", "mitogen")
PROJECT_DIR_ENV = "READINESS_PROJECT_DIR"
"""Environment variable naming the project directory (the one holding `playbooks/`)."""

_TASK_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
_DEBUG_ACTIONS = {"debug", "ansible.builtin.debug", "ansible.legacy.debug"}


class DrillError(RuntimeError):
    """A playbook could not be run or its report read; the message says why."""


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one task on one host, from ansible-runner's events."""

    task: str
    role: str
    host: str
    action: str
    status: str  # ok, changed, failed, skipped or unreachable
    changed: bool
    ignored: bool = False


@dataclass(frozen=True)
class PlaybookRun:
    """Everything a caller needs from one `ansible-playbook` run."""

    playbook: str
    rc: int
    status: str
    stdout: str
    tasks: tuple[TaskResult, ...] = ()
    messages: tuple[str, ...] = ()
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    artifact_data: dict[str, Any] = field(default_factory=dict)
    report_path: Path | None = None
    report: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when ansible-playbook exited 0."""
        return self.rc == 0 and self.status == "successful"

    def task(self, name: str) -> list[TaskResult]:
        """The results of every task called `name` (one per host and run of the task)."""
        return [result for result in self.tasks if result.task == name]

    def changed_tasks(self) -> list[TaskResult]:
        return [result for result in self.tasks if result.changed]

    def recap(self, host: str = "localhost") -> dict[str, int]:
        """The PLAY RECAP counters of `host`: ok, changed, failures, skipped, ..."""
        return {counter: hosts.get(host, 0) for counter, hosts in self.stats.items()}


def project_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding `playbooks/`, `roles/` and `inventory/`.

    In order: `explicit`, the `READINESS_PROJECT_DIR` environment variable, the checkout
    this module lives in (plugins/readiness_harness/drill.py -> two levels up; the
    package is installed editable), the current directory.
    """
    for source, candidate in (
        ("the project_dir argument", explicit),
        (f"${PROJECT_DIR_ENV}", os.environ.get(PROJECT_DIR_ENV) or None),
    ):
        if candidate is not None:
            path = Path(candidate).resolve()
            if not (path / "playbooks").is_dir():
                raise DrillError(f"{source} names {path}, which has no playbooks/ directory")
            return path
    for path in (PROJECT_ROOT, Path.cwd()):
        if (path / "playbooks").is_dir():
            return path
    raise DrillError(
        "cannot find the playbooks/ directory: run from the repository, or set "
        f"{PROJECT_DIR_ENV} to the directory that holds playbooks/ and roles/"
    )


def accelerator_env(accelerator: str | None = None) -> dict[str, str]:
    """Ansible settings for `accelerator` (default: $READINESS_ANSIBLE_ACCELERATOR)."""
    chosen = (accelerator if accelerator is not None else os.environ.get(ACCELERATOR_ENV, "")) or "none"
    if chosen not in ACCELERATORS:
        raise DrillError(f"{ACCELERATOR_ENV}={chosen!r}: expected one of {', '.join(ACCELERATORS)}")
    if chosen == "none":
        return {}
    try:
        import ansible_mitogen
    except ImportError as exc:
        raise DrillError(f"mitogen is not installed ({exc}): pip install -c constraints.txt mitogen") from exc
    strategy = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategy), "ANSIBLE_STRATEGY": "mitogen_linear"}


def playbook_env(env: Mapping[str, str], accelerator: str | None = None) -> dict[str, str]:
    """`env` for ansible-playbook: the venv's bin first on PATH, colour off, ssh pipelining
    on (modules go through the open ssh session instead of a copied file), and the
    accelerator's strategy when one is asked for."""
    venv_bin = str(Path(sys.executable).parent)
    path = env.get("PATH") or os.environ.get("PATH", "")
    rest = [entry for entry in path.split(os.pathsep) if entry and entry != venv_bin]
    return {
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PIPELINING": "True",
        **accelerator_env(accelerator),
        **env,
        "PATH": os.pathsep.join([venv_bin, *rest]),
    }


def run_playbook(
    name: str,
    env: Mapping[str, str],
    extravars: Mapping[str, Any] | None = None,
    quiet: bool = True,
    *,
    project: str | os.PathLike[str] | None = None,
    inventory: str | os.PathLike[str] | None = None,
    tags: Iterable[str] = (),
    skip_tags: Iterable[str] = (),
    check: bool = False,
    timeout: int | None = None,
    limit: str | None = None,
    forks: int | None = None,
    accelerator: str | None = None,
) -> PlaybookRun:
    """Run `playbooks/<name>.yml` against `inventory/local.yml` (or `inventory`).

    `env` is layered over the current environment (pass "" to blank a variable; the roles
    treat empty as unset). `quiet=False` streams ansible-playbook's output to stdout.
    For the restore drill, the report it published (set_stats `restore_drill_report`) is
    read back into `PlaybookRun.report`; it stays None when the drill wrote none.
    """
    import ansible_runner

    root = project_dir(project)
    playbook = root / "playbooks" / f"{name.removesuffix('.yml')}.yml"
    if not playbook.is_file():
        raise DrillError(f"no playbook {playbook}; known: {', '.join(PLAYBOOKS)}")
    inventory_path = Path(inventory) if inventory is not None else root / "inventory" / "local.yml"
    if not inventory_path.exists():
        raise DrillError(f"no inventory {inventory_path}")
    full_env = playbook_env(env, accelerator)

    private_data_dir = tempfile.mkdtemp(prefix="readiness-ansible-")
    interrupted = False
    try:
        # Run in ansible-runner's thread so that Ctrl-C (or SIGTERM turned into it) cancels
        # ansible-playbook itself: left running, it would go on writing its artifacts into
        # the folder removed here.
        cancelled = threading.Event()
        thread, runner = ansible_runner.run_async(
            private_data_dir=private_data_dir,
            project_dir=str(root / "playbooks"),
            playbook=playbook.name,
            inventory=str(inventory_path.resolve()),
            roles_path=[str(root / "roles")],
            envvars=full_env,
            extravars=dict(extravars or {}),
            tags=",".join(tags) or None,
            skip_tags=",".join(skip_tags) or None,
            cmdline="--check" if check else None,
            limit=limit,
            forks=forks,
            quiet=quiet,
            timeout=timeout,
            suppress_env_files=True,  # the environment holds credentials
            cancel_callback=cancelled.is_set,
        )
        try:
            while thread.is_alive():
                thread.join(0.2)
        except BaseException:
            cancelled.set()
            thread.join(60)
            interrupted = True
            raise
        stdout_file = Path(runner.config.artifact_dir) / "stdout"
        stdout = stdout_file.read_text(errors="replace") if stdout_file.exists() else ""
        events = list(runner.events)
        stats = runner.stats or {}
        rc = int(runner.rc) if runner.rc is not None else -1
        status = str(runner.status)
    finally:
        _remove(private_data_dir, settle=3.0 if interrupted else 0.0)

    tasks, messages, artifact_data = _digest(events)
    report_path: Path | None = None
    report: dict[str, Any] | None = None
    if name.removesuffix(".yml") == "restore_drill":
        published = artifact_data.get("restore_drill_report")
        if isinstance(published, str) and published:
            report_path = Path(published)
            report = read_drill_report(report_path)
    return PlaybookRun(
        playbook=name,
        rc=rc,
        status=status,
        stdout=stdout,
        tasks=tasks,
        messages=messages,
        stats={str(k): dict(v) for k, v in stats.items() if isinstance(v, dict)},
        artifact_data=artifact_data,
        report_path=report_path,
        report=report,
    )


def _remove(folder: str, settle: float) -> None:
    """Remove ansible-runner's folder. After an interrupt the cancelled run's last events
    can still land in it for a moment, so keep removing it for `settle` seconds."""
    deadline = time.monotonic() + settle
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        if time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def read_drill_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The drill report at `path` (a drill_report_*.json or latest.json) as a dict."""
    report_file = Path(path)
    try:
        data = json.loads(report_file.read_text())
    except FileNotFoundError:
        raise DrillError(f"no drill report at {report_file}: has the drill run?") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DrillError(f"cannot read the drill report {report_file}: {exc}") from exc
    if not isinstance(data, dict) or "passed" not in data:
        raise DrillError(f"{report_file} is not a drill report (no 'passed' key)")
    return data


def _digest(
    events: list[dict[str, Any]],
) -> tuple[tuple[TaskResult, ...], tuple[str, ...], dict[str, Any]]:
    """Task results, debug messages (in order) and set_stats data from runner events."""
    tasks: list[TaskResult] = []
    messages: list[str] = []
    artifact_data: dict[str, Any] = {}
    for event in events:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            artifact_data = dict(data.get("artifact_data") or {})
        if kind not in _TASK_EVENTS:
            continue
        res = data.get("res") or {}
        changed = bool(res.get("changed", False)) and kind == "runner_on_ok"
        action = str(data.get("task_action", ""))
        tasks.append(
            TaskResult(
                task=str(data.get("task", "")),
                role=str(data.get("role", "")),
                host=str(data.get("host", "")),
                action=action,
                status="changed" if changed else _TASK_EVENTS[kind],
                changed=changed,
                ignored=bool(data.get("ignore_errors")),
            )
        )
        if kind == "runner_on_ok" and action in _DEBUG_ACTIONS and "msg" in res:
            msg = res["msg"]
            messages.extend(str(line) for line in (msg if isinstance(msg, list) else [msg]))
    return tuple(tasks), tuple(messages), artifact_data
