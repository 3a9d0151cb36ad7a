"""The embedded servers as another local user sees them: closed (issue 10, findings 2 and 3).

Run as root (CI runs the harness as root), the embedded PostgreSQL and Redis are started
as the harness starts them; then `nobody` (through runuser, with an empty environment)
tries everything the security review did: connect to PostgreSQL over TCP and through the
socket, read the data folder, talk to Redis with no password and a wrong one, rewrite
Redis's files with CONFIG SET dir. Every attempt must fail. A planted
`readiness-pginstall-<hash>` (or `readiness-redisbin-<hash>`) folder with fake binaries
must never run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from readiness_harness.target.embedded import (
    POSTGRES_INSTALL,
    POSTGRES_PARTS,
    REDIS_PARTS,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServers,
    embedded_servers,
    wheel_postgres_root,
    wheel_redis_root,
)
from readiness_harness.target.isolation import cache_path, untrusted_entry

RUNUSER = shutil.which("runuser")
pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root: it starts the servers as CI does and probes them as nobody"
    ),
    pytest.mark.skipif(RUNUSER is None, reason="needs runuser (util-linux) to act as nobody"),
]
CLEAN_PATH = "PATH=/usr/bin:/bin"


def as_nobody(*argv: str, env: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`argv` as nobody:nogroup with an empty environment (plus `env`)."""
    assert RUNUSER is not None
    return subprocess.run(
        [RUNUSER, "-u", "nobody", "-g", "nogroup", "--", "/usr/bin/env", "-i", CLEAN_PATH, *env, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


@pytest.fixture(scope="module")
def servers() -> Iterator[EmbeddedServers]:
    with embedded_servers() as started:
        yield started


def _psql(postgres: EmbeddedPostgres, host: str, *env: str) -> subprocess.CompletedProcess[str]:
    return as_nobody(
        str(postgres.bin_dir / "psql"),
        "--no-password",
        "-h", host, "-p", str(postgres.port), "-U", postgres.superuser, "-d", postgres.database,
        "-c", "SELECT 1",
        env=env,
    )  # fmt: skip


def test_nobody_cannot_connect_to_postgresql_over_tcp_without_the_password(servers: EmbeddedServers) -> None:
    result = _psql(servers.postgres, servers.postgres.host)
    assert result.returncode != 0, result.stdout
    assert "no password supplied" in result.stderr, result.stderr


def test_nobody_cannot_connect_to_postgresql_over_tcp_with_a_guessed_password(
    servers: EmbeddedServers,
) -> None:
    for guess in ("postgres", "", "readiness"):
        result = _psql(servers.postgres, servers.postgres.host, f"PGPASSWORD={guess}")
        assert result.returncode != 0, result.stdout
        assert "password authentication failed" in result.stderr or "no password" in result.stderr, (
            result.stderr
        )


def test_nobody_cannot_reach_the_postgresql_socket(servers: EmbeddedServers) -> None:
    postgres = servers.postgres
    socket_dir = postgres.socket_dir
    assert (socket_dir / f".s.PGSQL.{postgres.port}").exists(), "the server has a socket there"
    assert socket_dir.stat().st_mode & 0o777 == 0o700
    result = _psql(postgres, str(socket_dir), f"PGPASSWORD={postgres.password.reveal()}")
    assert result.returncode != 0, result.stdout
    assert "Permission denied" in result.stderr, result.stderr


def test_nobody_cannot_read_the_data_folder_or_the_log(servers: EmbeddedServers) -> None:
    postgres = servers.postgres
    for path in (postgres.base_dir, postgres.data_dir):
        listing = as_nobody("/bin/ls", str(path))
        assert listing.returncode != 0 and "Permission denied" in listing.stderr, listing
    for path in (
        postgres.data_dir / "pg_hba.conf",
        postgres.data_dir / "global" / "pg_control",
        postgres.log_file,
    ):
        read = as_nobody("/bin/cat", str(path))
        assert read.returncode != 0 and "Permission denied" in read.stderr, read
    assert not (postgres.base_dir / "superuser.pw").exists(), "initdb's password file was removed"
    rules = [line.split() for line in (postgres.data_dir / "pg_hba.conf").read_text().splitlines()]
    methods = {rule[-1] for rule in rules if rule and not rule[0].startswith("#")}
    assert methods == {"scram-sha-256"}, rules


def test_postgresql_runs_as_its_own_user_and_group_never_root(servers: EmbeddedServers) -> None:
    postgres = servers.postgres
    assert postgres.account is not None
    assert postgres.account.uid != 0 and postgres.account.gid != 0
    postmaster = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
    status = _status(postmaster)
    assert status["Uid"].split()[:2] == [str(postgres.account.uid)] * 2
    assert status["Gid"].split()[:2] == [str(postgres.account.gid)] * 2
    assert status["Groups"] == "", "no supplementary groups (root's would include gid 0)"
    # What the review ran: the superuser's shell commands run as that user and group too.
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE probe (line text)")
        conn.execute("COPY probe FROM PROGRAM 'id'")
        row = conn.execute("SELECT line FROM probe").fetchone()
    assert row is not None
    assert f"uid={postgres.account.uid}(" in row[0] and f"gid={postgres.account.gid}(" in row[0], row[0]
    assert "root" not in row[0], row[0]


def _redis_cli_as_nobody(redis_server: EmbeddedRedis, password: str | None, *command: str) -> str:
    """redis-cli as nobody (the wheel's, which every user can run); what the server said."""
    auth = ("-a", password, "--no-auth-warning") if password is not None else ()
    result = as_nobody(
        str(redis_server.bin_dir / "redis-cli"),
        "-h", redis_server.host, "-p", str(redis_server.port), *auth, *command,
    )  # fmt: skip
    return (result.stdout + result.stderr).strip()


@pytest.mark.parametrize("password", [None, "guessed-password"])
@pytest.mark.parametrize("command", [("PING",), ("GET", "x"), ("CONFIG", "SET", "dir", "/srv")])
def test_nobody_gets_nothing_from_redis_without_the_password(
    servers: EmbeddedServers, password: str | None, command: tuple[str, ...]
) -> None:
    answer = _redis_cli_as_nobody(servers.redis, password, *command)
    refused = ["NOAUTH Authentication required", "WRONGPASS", "AUTH failed"]
    if command[0] == "CONFIG":
        refused.append("unknown command `CONFIG`")  # Redis 6 looks a command up before AUTH
    assert any(reason in answer for reason in refused), answer
    assert "PONG" not in answer and "OK" not in answer.split(), answer


def test_nobody_cannot_read_the_redis_configuration(servers: EmbeddedServers) -> None:
    redis_server = servers.redis
    read = as_nobody("/bin/cat", str(redis_server.config_file))
    assert read.returncode != 0 and "Permission denied" in read.stderr, read


def test_config_set_dir_fails_even_with_the_password(servers: EmbeddedServers) -> None:
    client = redis.Redis.from_url(servers.redis.url)
    try:
        assert client.ping()
        elsewhere = str(servers.redis.base_dir.parent)
        for command in (("CONFIG", "SET", "dir", elsewhere), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST")):
            with pytest.raises(redis.ResponseError, match="unknown command"):
                client.execute_command(*command)
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("REPLICAOF", "127.0.0.1", "1")
    finally:
        client.close()


def test_redis_runs_as_its_own_user_and_group_never_root(servers: EmbeddedServers) -> None:
    redis_server = servers.redis
    assert redis_server.account is not None and redis_server.process is not None
    assert redis_server.account.uid != 0 and redis_server.account.gid != 0
    status = _status(redis_server.process.pid)
    assert status["Uid"].split()[:2] == [str(redis_server.account.uid)] * 2
    assert status["Gid"].split()[:2] == [str(redis_server.account.gid)] * 2
    assert status["Groups"] == ""


def test_no_password_is_on_a_command_line_or_in_a_server_environment(servers: EmbeddedServers) -> None:
    """/proc/PID/cmdline is readable by every local user; the servers' environment is
    theirs, and the harness's holds the target's secrets."""
    pids = [servers.redis.process.pid] if servers.redis.process else []
    pids.append(int((servers.postgres.data_dir / "postmaster.pid").read_text().split()[0]))
    passwords = (servers.postgres.password.reveal(), servers.redis.password.reveal())
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        for password in passwords:
            assert password not in cmdline and password not in environ
        names = {entry.split("=", 1)[0] for entry in environ.split("\0") if entry}
        assert names <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "TZ", "PGDATA",
                         "PG_GRANDPARENT_PID", "PGLOCALEDIR", "PGSYSCONFDIR", "PWD"}, names  # fmt: skip
        unreadable = as_nobody("/bin/cat", f"/proc/{pid}/environ")
        assert unreadable.returncode != 0


# --- a planted binary folder never runs ---------------------------------------------------

FAKE_BINARY = "#!/bin/sh\n/usr/bin/id >> {marker}\nexit 0\n"


def _plant_as_nobody(folder: Path, names: list[str], marker: Path) -> None:
    """What another local user can do: create the predictable folder first, full of
    binaries (`names` are relative paths) that record who ran them."""
    fake = _shell_quote(FAKE_BINARY.format(marker=marker))
    script = "\n".join(
        [
            "set -e",
            *(f"mkdir -p {(folder / name).parent}" for name in names),
            *(f"printf '%s' {fake} > {folder / name}" for name in names),
            f"chmod -R 0777 {folder}",
        ]
    )
    result = as_nobody("/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _plant_root_owned_but_writable(folder: Path, names: list[str], marker: Path) -> None:
    """A cache root left writable by others (or one a careless chmod opened)."""
    for name in names:
        binary = folder / name
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text(FAKE_BINARY.format(marker=marker))
        binary.chmod(0o755)
    (folder / names[0]).chmod(0o777)


def _plant_symlink_to_nobodys_folder(folder: Path, names: list[str], marker: Path) -> None:
    elsewhere = Path(tempfile.gettempdir()) / f"{folder.name}-elsewhere"
    _plant_as_nobody(elsewhere, names, marker)
    folder.symlink_to(elsewhere)


PLANTS: dict[str, Callable[[Path, list[str], Path], None]] = {
    "owned by nobody": _plant_as_nobody,
    "root's but writable by others": _plant_root_owned_but_writable,
    "a symlink to nobody's folder": _plant_symlink_to_nobodys_folder,
}


@pytest.fixture
def unreachable_copy() -> Iterator[Callable[[Path, tuple[str, ...]], Path]]:
    """A copy of a wheel's parts the server users cannot reach (like a venv under /root),
    so the harness needs its cached copy."""
    made: list[Path] = []

    def copy(root: Path, parts: tuple[str, ...]) -> Path:
        holder = Path(tempfile.mkdtemp(prefix="readiness-private-venv-"))  # 0700, root's
        made.append(holder)
        for part in parts:
            if (root / part).exists():
                shutil.copytree(root / part, holder / part, symlinks=True)
        return holder

    yield copy
    for holder in made:
        shutil.rmtree(holder, ignore_errors=True)


@pytest.mark.parametrize("plant", sorted(PLANTS))
@pytest.mark.parametrize("server", ["postgres", "redis"])
def test_a_planted_binary_folder_is_never_run(
    server: str, plant: str, unreachable_copy: Callable[[Path, tuple[str, ...]], Path]
) -> None:
    if server == "postgres":
        root, parts, prefix = (
            unreachable_copy(wheel_postgres_root(), POSTGRES_PARTS),
            POSTGRES_PARTS,
            "readiness-pginstall",
        )
        names = [
            f"{POSTGRES_INSTALL}/bin/{name}"
            for name in ("postgres", "initdb", "pg_ctl", "pg_isready", "psql")
        ]
    else:
        root, parts, prefix = (
            unreachable_copy(wheel_redis_root(), REDIS_PARTS),
            REDIS_PARTS,
            "readiness-redisbin",
        )
        names = ["bin/redis-server", "bin/redis-cli"]
    planted = cache_path(root, tuple(part for part in parts if (root / part).exists()), prefix)
    marker_dir = Path(tempfile.mkdtemp(prefix="readiness-marker-"))
    marker_dir.chmod(0o777)  # the fake binaries run as whoever runs them: let them all write
    marker = marker_dir / "ran"
    try:
        PLANTS[plant](planted, names, marker)
        instance: EmbeddedPostgres | EmbeddedRedis
        if server == "postgres":
            instance = EmbeddedPostgres(install_root=root)
            used = instance.bin_dir.parents[2]
        else:
            instance = EmbeddedRedis(install_root=root)
            used = instance.bin_dir.parent
        try:
            instance.start()
            if isinstance(instance, EmbeddedPostgres):
                with psycopg.connect(instance.url) as conn:
                    assert conn.execute("SELECT 1").fetchone() == (1,)
            else:
                assert redis.Redis.from_url(instance.url).ping()
        finally:
            instance.cleanup()
        assert not marker.exists(), f"a planted binary ran: {marker.read_text() if marker.exists() else ''}"
        assert used == planted and not planted.is_symlink(), "the copy was made again in its place"
        assert untrusted_entry(used) is None, "the folder the server ran from is root's and closed to others"
        assert (used / names[0]).read_bytes()[:4] == b"\x7fELF", "a real binary, not the planted script"
    finally:
        for leftover in (planted, Path(f"{planted}-elsewhere")):
            if leftover.is_symlink():
                leftover.unlink()
            else:
                shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(marker_dir, ignore_errors=True)


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}
