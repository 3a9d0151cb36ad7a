"""Timed bursts for the latency and success-rate lines: N pre-signed deliveries, C in
flight, each one's status and latency, stopped early once the line's goal is already missed.

Deliveries are signed before the clock starts. Each of C senders keeps one connection and
takes the next delivery when its previous one is answered. A goal says, from the answers
so far and the planned count, whether the outcome is already decided: then no new delivery
starts (those in flight finish), so a slow or failing target fails its line in seconds,
not after every delivery has timed out.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from readiness_harness.gateways.events import Delivery

TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Timed:
    status: int
    """HTTP status, 0 when there was no answer (refused, cut, timed out)."""
    seconds: float
    delivery: Delivery = field(repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..100) of `values`; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Burst:
    planned: int
    in_flight: int
    answers: list[Timed] = field(default_factory=list)
    stopped: str | None = None
    """Why no more deliveries were started before all were sent (the goal was missed)."""
    wall_seconds: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.answers)

    def count(self, predicate: Any) -> int:
        return sum(1 for answer in self.answers if predicate(answer))

    def figures(self) -> dict[str, Any]:
        latencies = [answer.seconds for answer in self.answers]
        ok = [answer.seconds for answer in self.answers if answer.ok]
        statuses: dict[str, int] = {}
        for answer in self.answers:
            statuses[str(answer.status)] = statuses.get(str(answer.status), 0) + 1
        return {
            "planned": self.planned,
            "sent": self.sent,
            "in_flight": self.in_flight,
            "statuses": statuses,
            "succeeded": len(ok),
            "server_errors": self.count(lambda answer: answer.status >= 500),
            "no_answer": self.count(lambda answer: answer.status == 0),
            "p50_s": round(percentile(latencies, 50), 4) if latencies else None,
            "p95_s": round(percentile(latencies, 95), 4) if latencies else None,
            "p99_s": round(percentile(latencies, 99), 4) if latencies else None,
            "max_s": round(max(latencies), 4) if latencies else None,
            "mean_s": round(statistics.fmean(latencies), 4) if latencies else None,
            "wall_s": round(self.wall_seconds, 3),
            "per_second": round(self.sent / self.wall_seconds, 1) if self.wall_seconds else None,
            "stopped_early": self.stopped,
        }


class Goal(Protocol):
    def missed(self, burst: Burst) -> str | None:
        """Why the goal can no longer be met, from the answers so far; None while it can."""

    def verdict(self, burst: Burst) -> tuple[bool, str]:
        """(met, what the burst showed) once the burst is over."""


@dataclass(frozen=True)
class LatencyGoal:
    """`share` % of deliveries processed (2xx) in under `under_seconds`: the nearest-rank
    percentile, with a delivery that failed or got no answer counted as never processed."""

    share: float
    under_seconds: float

    def allowed(self, planned: int) -> int:
        return planned - math.ceil(self.share / 100 * planned)

    def _slow(self, burst: Burst) -> int:
        return burst.count(lambda answer: not answer.ok or answer.seconds >= self.under_seconds)

    def missed(self, burst: Burst) -> str | None:
        slow = self._slow(burst)
        if slow > self.allowed(burst.planned):
            return (
                f"{slow} deliveries took {self.under_seconds:g}s or more or failed, more than the "
                f"{self.allowed(burst.planned)} of {burst.planned} the goal allows"
            )
        return None

    def verdict(self, burst: Burst) -> tuple[bool, str]:
        ok = [answer.seconds for answer in burst.answers if answer.ok]
        slow = self._slow(burst)
        p = percentile(ok, self.share)
        shown = f"p{self.share:g} of the processed deliveries {p:.3f}s" if ok else "no delivery was processed"
        met = burst.sent == burst.planned and slow <= self.allowed(burst.planned)
        return met, (
            f"{shown}; {slow} of {burst.sent} sent ({burst.planned} planned, {burst.in_flight} in flight) "
            f"took {self.under_seconds:g}s or more or failed, {self.allowed(burst.planned)} allowed"
        )


@dataclass(frozen=True)
class SuccessGoal:
    """Over `success_over` % answered 2xx and under `server_errors_under` % answered 5xx."""

    success_over: float
    server_errors_under: float

    def allowed_failures(self, planned: int) -> int:
        # (planned - f) / planned > success_over / 100  <=>  f < planned * (1 - success_over / 100)
        return max(0, math.ceil(planned * (100 - self.success_over) / 100) - 1)

    def allowed_server_errors(self, planned: int) -> int:
        return max(0, math.ceil(planned * self.server_errors_under / 100) - 1)

    def missed(self, burst: Burst) -> str | None:
        failed = burst.count(lambda answer: not answer.ok)
        server = burst.count(lambda answer: answer.status >= 500)
        if failed > self.allowed_failures(burst.planned):
            return f"{failed} deliveries failed, more than the {self.allowed_failures(burst.planned)} allowed"
        if server > self.allowed_server_errors(burst.planned):
            return (
                f"{server} deliveries answered 5xx, more than the "
                f"{self.allowed_server_errors(burst.planned)} allowed"
            )
        return None

    def verdict(self, burst: Burst) -> tuple[bool, str]:
        failed = burst.count(lambda answer: not answer.ok)
        server = burst.count(lambda answer: answer.status >= 500)
        planned = burst.planned
        met = (
            burst.sent == planned
            and failed <= self.allowed_failures(planned)
            and server <= self.allowed_server_errors(planned)
        )
        sent = max(1, burst.sent)
        succeeded = burst.sent - failed
        allowed = self.allowed_server_errors(planned)
        return met, (
            f"{succeeded} of {burst.sent} deliveries sent succeeded ({100 * succeeded / sent:.2f}%; "
            f"over {self.success_over:g}% needed), {server} answered 5xx ({100 * server / sent:.2f}%; "
            f"under {self.server_errors_under:g}% needed: at most {allowed} of {planned}); "
            f"{planned} planned, {burst.in_flight} in flight"
        )


class BurstSender:
    """Sends bursts to one target (steps get it as the `burst_sender` fixture)."""

    def __init__(self, base_url: str, verify: ssl.SSLContext | bool = True, timeout: float = TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout

    def send(self, deliveries: Sequence[Delivery], in_flight: int, goal: Goal | None = None) -> Burst:
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, got {in_flight}")
        return asyncio.run(self._send(list(deliveries), in_flight, goal))

    async def _send(self, deliveries: list[Delivery], in_flight: int, goal: Goal | None) -> Burst:
        burst = Burst(planned=len(deliveries), in_flight=in_flight)
        queue = list(reversed(deliveries))
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits, verify=self.verify
        ) as client:

            async def sender() -> None:
                while queue and burst.stopped is None:
                    delivery = queue.pop()
                    began = time.perf_counter()
                    try:
                        response = await client.post(
                            delivery.path, content=delivery.body, headers=delivery.headers
                        )
                        status = response.status_code
                    except httpx.TransportError:
                        status = 0
                    burst.answers.append(Timed(status, time.perf_counter() - began, delivery))
                    if goal is not None and burst.stopped is None:
                        burst.stopped = goal.missed(burst)

            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(min(in_flight, len(deliveries)))))
            burst.wall_seconds = time.perf_counter() - started
        return burst
