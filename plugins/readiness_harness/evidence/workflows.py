"""GitHub Actions workflow files, read the way GitHub reads them.

`load_workflows(path)` reads one workflow file, or every `*.yml` / `*.yaml` of a folder
(a repository's `.github/workflows`). A workflow knows its triggers (`on:` in any of its
three spellings: a name, a list, a mapping), its jobs, and for each job its steps, the
jobs it needs and the check name branch protection requires for it (the job's `name:`,
else its id). Nothing here runs a workflow; whether GitHub would accept the file at all
is actionlint's question (`actionlint.py`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHANGE_EVENTS = ("push", "pull_request", "pull_request_target", "merge_group")
"""Events that run a workflow on every change to the code."""


class WorkflowError(ValueError):
    """A workflow file that cannot be read as a workflow; the message says which and why."""


@dataclass(frozen=True)
class Step:
    name: str
    uses: str
    run: str
    condition: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    """The step's `with:` mapping."""

    @property
    def label(self) -> str:
        """The step as a person would name it: its name, else what it uses or runs."""
        if self.name:
            return self.name
        if self.uses:
            return self.uses
        first = self.run.strip().splitlines()
        return first[0] if first else "(empty step)"

    def runs(self, pattern: re.Pattern[str]) -> bool:
        return bool(pattern.search(self.run))

    def uses_action(self, prefixes: Iterable[str]) -> bool:
        action = self.uses.split("@", 1)[0].lower()
        return any(action == prefix or action.startswith(prefix + "/") for prefix in prefixes)

    @property
    def always(self) -> bool:
        """True when the step also runs after an earlier step failed."""
        return bool(re.search(r"\b(always|failure)\(\)", self.condition))


@dataclass(frozen=True)
class Job:
    workflow: Path
    id: str
    name: str
    steps: tuple[Step, ...]
    needs: tuple[str, ...]
    environment: str | None
    uses: str
    """A reusable workflow the job calls instead of having steps."""

    @property
    def check_name(self) -> str:
        """The status check GitHub reports for this job (its `name:`, else its id)."""
        return self.name or self.id

    @property
    def label(self) -> str:
        return f"{self.workflow.name}: job {self.id!r}" + (f" ({self.name})" if self.name else "")

    def step_running(self, pattern: re.Pattern[str], actions: Iterable[str] = ()) -> Step | None:
        """The first step whose `run` matches `pattern` or that uses one of `actions`."""
        actions = tuple(actions)
        for step in self.steps:
            if step.runs(pattern) or (actions and step.uses_action(actions)):
                return step
        return None


@dataclass(frozen=True)
class Workflow:
    path: Path
    name: str
    triggers: Mapping[str, Any]
    """Event -> its filter mapping (`push: {branches: [...]}`), or the list `schedule` takes."""
    jobs: Mapping[str, Job]

    @property
    def crons(self) -> list[str]:
        entries: Any = self.triggers.get("schedule")
        schedule: list[Any] = entries if isinstance(entries, list) else []
        return [str(entry.get("cron")) for entry in schedule if isinstance(entry, dict) and entry.get("cron")]

    @property
    def manual(self) -> bool:
        return "workflow_dispatch" in self.triggers

    @property
    def on_every_change(self) -> bool:
        return any(event in self.triggers for event in CHANGE_EVENTS)

    @property
    def on_pull_request(self) -> bool:
        return any(event in self.triggers for event in ("pull_request", "pull_request_target", "merge_group"))

    def on_push_to(self, branch: str) -> bool:
        """True when a push to `branch` runs this workflow (branch filters honoured)."""
        if "push" not in self.triggers:
            return False
        push = self.triggers["push"] if isinstance(self.triggers["push"], dict) else {}
        branches = push.get("branches")
        ignored = push.get("branches-ignore")
        if branches is None and ignored is None:
            # A push filter on tags or paths alone still runs on branch pushes only when
            # no `tags` filter is given (GitHub: tags-only filters skip branch pushes).
            return "tags" not in push and "tags-ignore" not in push
        if branches is not None:
            return any(fnmatch.fnmatchcase(branch, str(pattern)) for pattern in _as_list(branches))
        return not any(fnmatch.fnmatchcase(branch, str(pattern)) for pattern in _as_list(ignored))

    def needed_by(self, job: Job) -> set[str]:
        """Every job `job` waits for, directly or through others."""
        seen: set[str] = set()
        pending = list(job.needs)
        while pending:
            name = pending.pop()
            if name in seen or name not in self.jobs:
                continue
            seen.add(name)
            pending.extend(self.jobs[name].needs)
        return seen


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _triggers(document: Mapping[Any, Any], path: Path) -> dict[str, Any]:
    # YAML 1.1 reads an unquoted `on:` key as the boolean True; accept both spellings.
    raw = document.get("on", document.get(True))
    if raw is None:
        raise WorkflowError(f"{path}: no `on:` section, so GitHub never runs it")
    if isinstance(raw, str):
        return {raw: {}}
    if isinstance(raw, list):
        return {str(event): {} for event in raw}
    if isinstance(raw, dict):
        return {str(event): ({} if value is None else value) for event, value in raw.items()}
    raise WorkflowError(f"{path}: `on:` must be an event name, a list or a mapping")


def _step(raw: Any) -> Step:
    entry = raw if isinstance(raw, dict) else {}
    inputs = entry.get("with")
    return Step(
        name=str(entry.get("name") or ""),
        uses=str(entry.get("uses") or ""),
        run=str(entry.get("run") or ""),
        condition=str(entry.get("if") or ""),
        inputs=inputs if isinstance(inputs, dict) else {},
    )


def _job(path: Path, job_id: str, raw: Any) -> Job:
    entry = raw if isinstance(raw, dict) else {}
    environment = entry.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    return Job(
        workflow=path,
        id=job_id,
        name=str(entry.get("name") or ""),
        steps=tuple(_step(step) for step in _as_list(entry.get("steps"))),
        needs=tuple(str(name) for name in _as_list(entry.get("needs"))),
        environment=str(environment) if environment else None,
        uses=str(entry.get("uses") or ""),
    )


def load_workflow(path: Path) -> Workflow:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorkflowError(f"{path}: cannot read it: {exc}") from exc
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise WorkflowError(f"{path}: a workflow is a YAML mapping with `on:` and `jobs:`")
    jobs = document.get("jobs")
    if not isinstance(jobs, dict) or not jobs:
        raise WorkflowError(f"{path}: no `jobs:`, so the workflow does nothing")
    return Workflow(
        path=path,
        name=str(document.get("name") or path.name),
        triggers=_triggers(document, path),
        jobs={str(job_id): _job(path, str(job_id), raw) for job_id, raw in jobs.items()},
    )


def workflow_files(path: Path) -> list[Path]:
    """The workflow files at `path`: the file itself, or a folder's *.yml and *.yaml."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    raise WorkflowError(f"{path}: no such file or folder")


@dataclass(frozen=True)
class WorkflowSet:
    """The workflows at a path, and the files among them that are not workflows at all."""

    source: Path
    workflows: tuple[Workflow, ...]
    unreadable: Mapping[Path, str]
    """File -> why it cannot be read as a workflow."""

    @property
    def files(self) -> list[Path]:
        return sorted([workflow.path for workflow in self.workflows] + list(self.unreadable))

    def jobs(self) -> list[tuple[Workflow, Job]]:
        return [(workflow, job) for workflow in self.workflows for job in workflow.jobs.values()]


def load_workflows(path: Path) -> WorkflowSet:
    """Every workflow at `path`; files that cannot be read are listed with the reason.
    Raises WorkflowError when `path` holds no workflow file at all."""
    files = workflow_files(path)
    if not files:
        raise WorkflowError(f"{path}: holds no workflow files (*.yml, *.yaml)")
    workflows: list[Workflow] = []
    unreadable: dict[Path, str] = {}
    for file in files:
        try:
            workflows.append(load_workflow(file))
        except WorkflowError as exc:
            unreadable[file] = str(exc)
    return WorkflowSet(path, tuple(workflows), unreadable)
