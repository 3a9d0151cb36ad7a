"""Redis replication as Redis reports it: `INFO replication`, or `CLUSTER INFO` on a cluster.

A primary reports `role:master`, `connected_slaves:N` and one `slaveK:` line per replica
(`ip=...,port=...,state=online,offset=...,lag=...`, where lag is the seconds since that
replica last acknowledged). A replica reports `role:slave` and its link to the primary
(`master_link_status:up`, `master_last_io_seconds_ago`). A cluster node reports
`cluster_enabled:1` in `INFO cluster`, and `cluster_state:ok` in `CLUSTER INFO` when every
slot is served. Reading these changes nothing on the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONNECT_TIMEOUT_S = 5.0
PRIMARY_PING_PERIOD_S = 10
"""Redis's default repl-ping-replica-period: how often an idle primary pings its replicas."""


class ReplicationReadError(RuntimeError):
    """Redis could not be asked; the message says which server and why."""


@dataclass(frozen=True)
class Replica:
    address: str
    state: str
    offset: int
    lag_seconds: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "state": self.state,
            "offset": self.offset,
            "lag_seconds": self.lag_seconds,
        }


@dataclass(frozen=True)
class Replication:
    role: str
    master_repl_offset: int
    replicas: tuple[Replica, ...] = ()
    connected_replicas: int = 0
    link_status: str | None = None
    """On a replica: its link to the primary (`up` or `down`)."""
    last_io_seconds: int | None = None
    cluster_state: str | None = None
    """`ok` or `fail` when the server runs in cluster mode, else None."""
    raw: dict[str, str] = field(default_factory=dict)

    def offset_lag(self, replica: Replica) -> int:
        return max(0, self.master_repl_offset - replica.offset)

    def availability_problems(self, min_replicas: int) -> list[str]:
        """Why no replica (or cluster) stands ready to take over (empty when one does)."""
        if self.cluster_state is not None:
            return (
                []
                if self.cluster_state == "ok"
                else [f"the cluster reports cluster_state:{self.cluster_state}"]
            )
        if self.role == "slave":
            if self.link_status == "up":
                return []
            return [f"this server is a replica whose link to its primary is {self.link_status or 'unknown'}"]
        online = [replica for replica in self.replicas if replica.state == "online"]
        if len(online) >= min_replicas:
            return []
        states = ", ".join(f"{r.address} {r.state}" for r in self.replicas) or "none connected"
        return [
            f"the primary has {len(online)} replica(s) online, at least {min_replicas} required "
            f"(role:{self.role}, connected_slaves:{self.connected_replicas}; {states})"
        ]

    def lag_problems(self, max_lag_seconds: int, max_offset_lag_bytes: int) -> list[str]:
        """Replicas further behind their primary than allowed (empty when none is)."""
        if self.cluster_state is not None:
            return []
        if self.role == "slave":
            # A replica sees no offset of its primary, only when it last heard from it; an
            # idle primary pings its replicas every repl-ping-replica-period (10 s).
            allowed = max_lag_seconds + PRIMARY_PING_PERIOD_S
            if self.last_io_seconds is not None and self.last_io_seconds > allowed:
                return [
                    f"this replica last heard from its primary {self.last_io_seconds} s ago (at most "
                    f"{allowed} s: {max_lag_seconds} s plus the primary's {PRIMARY_PING_PERIOD_S} s "
                    "ping period)"
                ]
            return []
        out = []
        for replica in self.replicas:
            if replica.state != "online":
                continue
            if replica.lag_seconds > max_lag_seconds:
                out.append(
                    f"replica {replica.address} last acknowledged {replica.lag_seconds} s ago "
                    f"(at most {max_lag_seconds} s)"
                )
            behind = self.offset_lag(replica)
            if behind > max_offset_lag_bytes:
                out.append(
                    f"replica {replica.address} is {behind} bytes behind the primary "
                    f"(at most {max_offset_lag_bytes} bytes)"
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "master_repl_offset": self.master_repl_offset,
            "connected_replicas": self.connected_replicas,
            "replicas": [
                {**replica.to_dict(), "offset_lag_bytes": self.offset_lag(replica)}
                for replica in self.replicas
            ],
            "link_status": self.link_status,
            "cluster_state": self.cluster_state,
        }


def _replica(text: str) -> Replica:
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    return Replica(
        f"{fields.get('ip', '?')}:{fields.get('port', '?')}",
        fields.get("state", "unknown"),
        int(fields.get("offset", 0) or 0),
        int(fields.get("lag", 0) or 0),
    )


def parse_info(info: dict[str, Any], cluster_state: str | None = None) -> Replication:
    """A Replication from redis-py's parsed `INFO replication` (a dict)."""
    replicas = []
    for key in sorted(key for key in info if key.startswith("slave") and key[5:].isdigit()):
        value = info[key]
        if isinstance(value, dict):  # redis-py parses `slave0:ip=...,port=...` into a dict
            value = ",".join(f"{k}={v}" for k, v in value.items())
        replicas.append(_replica(str(value)))
    last_io = info.get("master_last_io_seconds_ago")
    return Replication(
        role=str(info.get("role", "unknown")),
        master_repl_offset=int(info.get("master_repl_offset", 0) or 0),
        replicas=tuple(replicas),
        connected_replicas=int(info.get("connected_slaves", 0) or 0),
        link_status=str(info["master_link_status"]) if "master_link_status" in info else None,
        last_io_seconds=int(last_io) if last_io is not None and int(last_io) >= 0 else None,
        cluster_state=cluster_state,
        raw={str(k): str(v) for k, v in info.items()},
    )


def read_replication(url: str) -> Replication:
    """Ask the Redis at `url` about its replication (and cluster state in cluster mode)."""
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
    )
    try:
        info = client.info("replication")
        cluster_state = None
        if int(client.info("cluster").get("cluster_enabled", 0) or 0):
            cluster = client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
            text = cluster.decode() if isinstance(cluster, bytes) else str(cluster)
            fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
            cluster_state = fields.get("cluster_state", "unknown").strip()
    except redis.RedisError as exc:
        raise ReplicationReadError(f"INFO replication failed: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    return parse_info(info, cluster_state)
