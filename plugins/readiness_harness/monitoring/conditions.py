"""Make an alert's condition real on the target, for as long as a line watches it.

Each condition is a context manager: on entry the real fault begins (PayPal's
verification API failing or slow, the database or Redis stopped, a stored function the
service calls missing), with real traffic against the target so its own metrics show it;
on exit the fault is undone and the traffic stops, whatever happened in between.
Traffic is bounded in count and in time.

    with database_stopped(outages, simulator):
        ...  # deliveries get 503; dependency_errors_total{dependency="database"} grows
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from readiness_harness.gateways.clients import Reply
from readiness_harness.gateways.events import GatewayName, Payment
from readiness_harness.gateways.paypal_sandbox import PayPalSandbox
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.outages import Outages

logger = logging.getLogger(__name__)

MAX_REQUESTS = 2000
"""No condition sends more than this many requests, however long a line waits."""
MAX_SECONDS = 900.0
"""Nor runs longer than this (a target's real `for:` may be 10 minutes)."""
USER_ID = "461"
PACK = "black"


@dataclass
class Traffic:
    """Requests sent every `interval_s` from a background thread (at most `in_flight` at
    once) until stopped, `max_requests` were sent, or `max_seconds` passed."""

    send: Callable[[], Reply]
    interval_s: float
    in_flight: int = 4
    max_requests: int = MAX_REQUESTS
    max_seconds: float = MAX_SECONDS
    replies: list[Reply] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _one(self) -> None:
        try:
            reply = self.send()
        except httpx.HTTPError as exc:
            reply = Reply(0, {"error": f"{type(exc).__name__}: {exc}"})
        with self._lock:
            self.replies.append(reply)

    def _run(self, pool: ThreadPoolExecutor) -> None:
        deadline = time.monotonic() + self.max_seconds
        sent = 0
        pending: list[Any] = []
        while not self._stop.is_set() and sent < self.max_requests and time.monotonic() < deadline:
            pending = [future for future in pending if not future.done()]
            if len(pending) < self.in_flight:
                pending.append(pool.submit(self._one))
                sent += 1
            self._stop.wait(self.interval_s)

    @contextlib.contextmanager
    def running(self) -> Iterator[Traffic]:
        pool = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="readiness-traffic")
        thread = threading.Thread(target=self._run, args=(pool,), name="readiness-traffic", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=30)
            pool.shutdown(wait=True, cancel_futures=True)

    def statuses(self) -> dict[int, int]:
        with self._lock:
            counts: dict[int, int] = {}
            for reply in self.replies:
                counts[reply.status_code] = counts.get(reply.status_code, 0) + 1
            return counts


def captures(simulator: GatewaySimulator, gateway: GatewayName) -> Callable[[], Reply]:
    """A fresh signed capture of a new payment on every call."""

    def send() -> Reply:
        return simulator.send(simulator.capture(Payment.new(gateway, USER_ID, PACK)))

    return send


@dataclass
class ActiveCondition:
    """A condition in force: what it is, when it began, the labels its alert should carry,
    and the traffic it sends."""

    description: str
    started_at: float
    labels: dict[str, str]
    traffic: Traffic | None
    evidence: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "condition": self.description,
            "started_at": self.started_at,
            "labels_expected": self.labels,
            "requests_sent": len(self.traffic.replies) if self.traffic else 0,
            "answers": self.traffic.statuses() if self.traffic else {},
            **self.evidence,
        }


@contextlib.contextmanager
def paypal_verification(
    sandbox: PayPalSandbox, simulator: GatewaySimulator, *, delay_s: float = 0.0, unavailable: bool = False
) -> Iterator[ActiveCondition]:
    """PayPal's verify-webhook-signature call failing (503) or slow, while PayPal deliveries
    arrive: the service answers them 503 (the gateway retries) after its own timeout."""
    what = "unavailable" if unavailable else f"answering after {delay_s:g} s"
    traffic = Traffic(
        captures(simulator, "paypal"), interval_s=0.5 if delay_s else 0.25, in_flight=24 if delay_s else 4
    )
    with sandbox.degraded(delay_s=delay_s, unavailable=unavailable), traffic.running():
        yield ActiveCondition(
            f"PayPal's verification API {what} while PayPal deliveries arrive",
            time.time(),
            {"gateway": "paypal"},
            traffic,
        )


@contextlib.contextmanager
def database_stopped(
    outages: Outages, simulator: GatewaySimulator, gateway: GatewayName
) -> Iterator[ActiveCondition]:
    """The target's database stopped while deliveries arrive (each answered 503)."""
    traffic = Traffic(captures(simulator, gateway), interval_s=0.25, in_flight=4)
    with outages.down("database"), traffic.running():
        yield ActiveCondition(
            "the database stopped while deliveries arrive", time.time(), {"dependency": "database"}, traffic
        )


@contextlib.contextmanager
def cache_stopped(outages: Outages, status: Callable[[], Reply]) -> Iterator[ActiveCondition]:
    """The target's Redis stopped while its /status is polled (as a load balancer does)."""
    traffic = Traffic(status, interval_s=0.25, in_flight=2)
    with outages.down("cache"), traffic.running():
        yield ActiveCondition(
            "Redis stopped while /status is polled", time.time(), {"dependency": "redis"}, traffic
        )


@contextlib.contextmanager
def missing_function(database_url: str, name: str = "record_capture") -> Iterator[str]:
    """The stored function `name` renamed for the block (a botched migration): every call
    the service makes to it fails with UndefinedFunction, which no handler expects. Renamed
    back afterwards, whatever happens."""
    import psycopg
    from psycopg import sql

    hidden = f"{name}_hidden_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE p.proname = %s ORDER BY n.nspname = 'public' DESC LIMIT 1",
            (name,),
        ).fetchone()
        if row is None:
            raise RuntimeError(f"the target's database has no function {name}: nothing to break")
        schema = str(row[0])
        conn.execute(
            sql.SQL("ALTER FUNCTION {} RENAME TO {}").format(
                sql.Identifier(schema, name), sql.Identifier(hidden)
            )
        )
        try:
            yield f"{schema}.{name}"
        finally:
            conn.execute(
                sql.SQL("ALTER FUNCTION {} RENAME TO {}").format(
                    sql.Identifier(schema, hidden), sql.Identifier(name)
                )
            )


@contextlib.contextmanager
def unexpected_errors(
    database_url: str, simulator: GatewaySimulator, gateway: GatewayName
) -> Iterator[ActiveCondition]:
    """Captures failing with an error no handler expects (the capture function missing),
    while captures arrive: each answered 500, counted in unhandled_errors_total."""
    traffic = Traffic(captures(simulator, gateway), interval_s=0.25, in_flight=2)
    with missing_function(database_url) as function, traffic.running():
        yield ActiveCondition(
            f"deliveries meet an unexpected error ({function} missing)",
            time.time(),
            {"route": gateway},
            traffic,
            {"broken": function},
        )
