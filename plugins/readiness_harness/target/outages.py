"""Outages on purpose: stop and start the target's database, cache and service.

On the embedded default the harness stops the servers it started itself. Against a
deployment it runs the operator's hooks (`--outage-hooks FILE`), and only when the run
also says `--allow-disruption`: asked for twice. A hook is an argument list run without
a shell, or an Ansible host and service name handled through ansible-runner:

    database:
      stop: [systemctl, stop, postgresql]
      start: [systemctl, start, postgresql]
    cache:
      ansible: {host: cache1, service: redis-server}
    service:
      stop: [pkill, -KILL, -f, "uvicorn cardpack_service"]
      start: [systemctl, start, cardpack]
    instance:                             # one instance behind the load balancer
      stop: [ssh, app2, sudo, systemctl, kill, -s, KILL, cardpack]
      start: [ssh, app2, sudo, systemctl, start, cardpack]
    inventory: inventory/production.yml   # for the ansible hooks
    timeout_seconds: 120                  # for each hook (default 120)

Every part stopped is started again: after its scenario, on failure, and on Ctrl-C
(`restore_all()` runs from the plugin's teardown). A hook that fails says which part,
which command and what it printed.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from readiness_harness.target.stack import EmbeddedDeployment

logger = logging.getLogger(__name__)

PARTS = ("database", "cache", "service", "instance")
"""`instance`: one of several service instances behind the target's load balancer."""
DEFAULT_TIMEOUT_S = 120.0


class OutageError(RuntimeError):
    """A hook could not stop or start a part; the message says which and why."""


class OutageHooksError(ValueError):
    """The outage hooks file is not usable; the message says where and why."""


class OutageControl(Protocol):
    """Stops and starts the target's parts. `parts` are the ones it can control."""

    @property
    def parts(self) -> tuple[str, ...]: ...

    def stop(self, part: str) -> None: ...

    def start(self, part: str) -> None: ...


@dataclass(frozen=True)
class CommandHook:
    argv: tuple[str, ...]

    def run(self, part: str, action: str, timeout: float, cwd: Path) -> None:
        try:
            result = subprocess.run(
                list(self.argv), capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
            )
        except FileNotFoundError as exc:
            raise OutageError(f"the {action} hook of the {part} cannot run {self.argv[0]!r}: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise OutageError(
                f"the {action} hook of the {part} did not finish within {timeout:.0f}s"
            ) from exc
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise OutageError(
                f"the {action} hook of the {part} ({shlex.join(self.argv)}) exited {result.returncode}: "
                + " | ".join(output)
            )


@dataclass(frozen=True)
class AnsibleServiceHook:
    host: str
    service: str
    inventory: Path | None

    def run(self, part: str, action: str, timeout: float, cwd: Path) -> None:
        import ansible_runner

        from readiness_harness.drill.playbooks import playbook_env

        state = "stopped" if action == "stop" else "started"
        runner = ansible_runner.run(
            host_pattern=self.host,
            module="ansible.builtin.service",
            module_args=f"name={shlex.quote(self.service)} state={state}",
            inventory=str(self.inventory) if self.inventory else None,
            envvars=playbook_env({}),
            quiet=True,
            timeout=int(timeout),
            suppress_env_files=True,
        )
        if runner.rc != 0:
            raise OutageError(
                f"the {action} hook of the {part} (service {self.service} {state} on {self.host}) "
                f"failed with status {runner.status} (exit {runner.rc})"
            )


Hook = CommandHook | AnsibleServiceHook


def _hook(value: Any, where: str) -> Hook:
    if isinstance(value, list) and value and all(isinstance(item, str | int) for item in value):
        return CommandHook(tuple(str(item) for item in value))
    if isinstance(value, str) and value.strip():
        return CommandHook(tuple(shlex.split(value)))
    raise OutageHooksError(
        f"{where} must be a command: an argument list such as [systemctl, stop, postgresql]"
    )


@dataclass
class HookOutages:
    """The operator's hooks from `--outage-hooks`."""

    source: Path
    stops: dict[str, Hook]
    starts: dict[str, Hook]
    timeout: float = DEFAULT_TIMEOUT_S

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(part for part in PARTS if part in self.stops and part in self.starts)

    def stop(self, part: str) -> None:
        self.stops[part].run(part, "stop", self.timeout, self.source.parent)

    def start(self, part: str) -> None:
        self.starts[part].run(part, "start", self.timeout, self.source.parent)


def load_hooks(path: Path) -> HookOutages:
    """Read and check an outage hooks file (see the module docstring for its form)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise OutageHooksError(f"{path}: cannot read the outage hooks: {exc}") from exc
    except yaml.YAMLError as exc:
        raise OutageHooksError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise OutageHooksError(f"{path}: expected a mapping of database/cache/service to hooks")
    unknown = sorted(set(document) - {*PARTS, "inventory", "timeout_seconds"})
    if unknown:
        raise OutageHooksError(f"{path}: unknown keys {', '.join(unknown)}; use {', '.join(PARTS)}")
    inventory = Path(str(document["inventory"])) if document.get("inventory") else None
    if inventory is not None and not inventory.is_absolute():
        inventory = path.parent / inventory
    timeout = document.get("timeout_seconds", DEFAULT_TIMEOUT_S)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise OutageHooksError(f"{path}: timeout_seconds must be a positive number")
    stops: dict[str, Hook] = {}
    starts: dict[str, Hook] = {}
    for part in PARTS:
        entry = document.get(part)
        if entry is None:
            continue
        where = f"{path}: {part}"
        if not isinstance(entry, dict):
            raise OutageHooksError(f"{where} must be a mapping with stop and start, or ansible")
        if "ansible" in entry:
            spec = entry["ansible"]
            if not isinstance(spec, dict) or not spec.get("host") or not spec.get("service"):
                raise OutageHooksError(f"{where}.ansible needs host and service")
            hook = AnsibleServiceHook(str(spec["host"]), str(spec["service"]), inventory)
            stops[part] = starts[part] = hook
            continue
        if "stop" not in entry or "start" not in entry:
            raise OutageHooksError(f"{where} needs both stop and start (every part stopped is started again)")
        stops[part] = _hook(entry["stop"], f"{where}.stop")
        starts[part] = _hook(entry["start"], f"{where}.start")
    if not stops:
        raise OutageHooksError(f"{path}: no hooks for any of {', '.join(PARTS)}")
    return HookOutages(path, stops, starts, float(timeout))


@dataclass
class Outages:
    """A control, plus the bookkeeping that starts again every part it stopped."""

    control: OutageControl
    stopped: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def parts(self) -> tuple[str, ...]:
        return self.control.parts

    def stop(self, part: str) -> None:
        if part not in self.control.parts:
            raise OutageError(f"no hook stops the {part}")
        with self._lock:
            self.stopped.append(part)
        logger.warning("outage: stopping the target's %s", part)
        self.control.stop(part)

    def start(self, part: str) -> None:
        logger.warning("outage: starting the target's %s again", part)
        self.control.start(part)
        with self._lock:
            if part in self.stopped:
                self.stopped.remove(part)

    @contextlib.contextmanager
    def down(self, part: str) -> Iterator[None]:
        """The part stopped for the block, and started again whatever happens."""
        self.stop(part)
        try:
            yield
        finally:
            self.start(part)

    def restore_all(self) -> list[str]:
        """Start every part still stopped (teardown, Ctrl-C); returns what it started.
        Raises the first failure after trying every part."""
        started, errors = [], []
        for part in list(dict.fromkeys(self.stopped)):
            try:
                self.start(part)
                started.append(part)
            except OutageError as exc:
                errors.append(str(exc))
        if errors:
            raise OutageError("; ".join(errors))
        return started


class EmbeddedOutageControl:
    """Outages of the embedded default: the harness stops the servers it started."""

    def __init__(self, deployment: EmbeddedDeployment) -> None:
        self.deployment = deployment

    @property
    def parts(self) -> tuple[str, ...]:
        parts = []
        if self.deployment.postgres is not None:
            parts.append("database")
        if self.deployment.redis is not None:
            parts.append("cache")
        return (*parts, "service")

    def stop(self, part: str) -> None:
        if part == "database" and self.deployment.postgres is not None:
            self.deployment.postgres.stop()
        elif part == "cache" and self.deployment.redis is not None:
            self.deployment.redis.stop()
        elif part == "service":
            self.deployment.service.kill()
        else:
            raise OutageError(f"the embedded default does not control a {part}")

    def start(self, part: str) -> None:
        if part == "database" and self.deployment.postgres is not None:
            self.deployment.postgres.start()
        elif part == "cache" and self.deployment.redis is not None:
            self.deployment.redis.start()
        elif part == "service":
            self.deployment.service.start()
        else:
            raise OutageError(f"the embedded default does not control a {part}")
