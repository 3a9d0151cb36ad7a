"""A throw-away deployment of the reference service, run as separate processes and
controlled from the command line the way an operator's outage hooks control theirs:

    python deployment_ctl.py STATE_DIR up              # PostgreSQL, Redis, the service; prints its URL
    python deployment_ctl.py STATE_DIR stop database   # or cache, service
    python deployment_ctl.py STATE_DIR start database
    python deployment_ctl.py STATE_DIR down            # everything stopped and removed

The harness only ever sees the service's URL and these commands (as outage hooks). The
state (ports, pids, the service's environment) lives in STATE_DIR (0700).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from readiness_harness.target.embedded import EmbeddedPostgres, EmbeddedRedis, free_port

START_TIMEOUT_S = 60.0


def _state(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "state.json").read_text())
    return data


def _save(folder: Path, state: dict[str, Any]) -> None:
    path = folder / "state.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(state, handle)


def _owner_run(state: dict[str, Any], *argv: str) -> None:
    """Run a PostgreSQL binary as the data directory's owner (PostgreSQL refuses root)."""
    owner = Path(state["pg_data"]).stat().st_uid
    subprocess.run(
        argv, check=True, capture_output=True, user=owner if os.geteuid() == 0 else None, timeout=120
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # still starting  # noqa: S110
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up within {START_TIMEOUT_S:.0f}s")


def start_database(state: dict[str, Any]) -> None:
    opts = shlex.split((Path(state["pg_data"]) / "postmaster.opts").read_text())
    options = [arg for arg in opts[1:] if arg not in ("-D", state["pg_data"])]
    _owner_run(
        state,
        str(Path(state["pg_bin"]) / "pg_ctl"),
        "start",
        "-w",
        "-D",
        state["pg_data"],
        "-l",
        str(Path(state["pg_data"]).parent / "postgres.log"),  # a file the server's own user may write
        "-o",
        shlex.join(options),
    )


def stop_database(state: dict[str, Any]) -> None:
    if (Path(state["pg_data"]) / "postmaster.pid").exists():
        _owner_run(
            state, str(Path(state["pg_bin"]) / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", state["pg_data"]
        )


def start_cache(folder: Path, state: dict[str, Any]) -> None:
    subprocess.run(
        [
            state["redis_binary"],
            "--port",
            str(state["redis_port"]),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            state["redis_password"],
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--daemonize",
            "yes",
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
        ],
        check=True,
        timeout=30,
    )
    _wait(lambda: (folder / "redis.pid").exists(), "Redis")


def stop_cache(folder: Path) -> None:
    pidfile = folder / "redis.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip())
        if _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        pidfile.unlink(missing_ok=True)


def start_service(folder: Path, state: dict[str, Any]) -> None:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "cardpack_service.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(state["service_port"]),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with (folder / "service.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            env={**os.environ, **state["service_env"]},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (folder / "service.pid").write_text(str(process.pid))
    url = f"http://127.0.0.1:{state['service_port']}/health"
    _wait(lambda: httpx.get(url, timeout=1).status_code == 200, "the service")


def stop_service(folder: Path) -> None:
    """SIGKILL: the service dies mid-delivery, as a crash would have it."""
    pidfile = folder / "service.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip())
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        pidfile.unlink(missing_ok=True)


def up(folder: Path) -> None:
    postgres = EmbeddedPostgres(base_dir=folder / "pg")
    postgres.start()
    redis_password = secrets.token_urlsafe(16)
    state: dict[str, Any] = {
        "pg_data": str(postgres.data_dir),
        "pg_bin": str(postgres.bin_dir),
        "redis_binary": str(EmbeddedRedis.server_binary()),
        "redis_port": free_port(),
        "redis_password": redis_password,
        "service_port": free_port(),
    }
    state["service_env"] = {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": f"redis://:{redis_password}@127.0.0.1:{state['redis_port']}/0",
        "PAYMENTS_WEBHOOK_SECRET": os.environ["PAYMENTS_WEBHOOK_SECRET"],
        "STRIPE_WEBHOOK_SECRET": os.environ["STRIPE_WEBHOOK_SECRET"],
        "ADMIN_TOKEN": os.environ["ADMIN_TOKEN"],
        "REQUIRE_WEBHOOK_SIGNATURE": "true",
        "MIGRATE_ON_START": "true",
    }
    _save(folder, state)
    start_cache(folder, state)
    start_service(folder, state)
    print(f"http://127.0.0.1:{state['service_port']}")  # noqa: T201 - the URL is this command's output


def down(folder: Path) -> None:
    state = _state(folder)
    stop_service(folder)
    stop_cache(folder)
    stop_database(state)
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    folder, command, *rest = argv
    path = Path(folder)
    if command == "up":
        up(path)
        return 0
    if command == "down":
        down(path)
        return 0
    part = rest[0]
    state = _state(path)
    actions = {
        ("stop", "database"): lambda: stop_database(state),
        ("start", "database"): lambda: start_database(state),
        ("stop", "cache"): lambda: stop_cache(path),
        ("start", "cache"): lambda: start_cache(path, state),
        ("stop", "service"): lambda: stop_service(path),
        ("start", "service"): lambda: start_service(path, state),
    }
    actions[(command, part)]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
