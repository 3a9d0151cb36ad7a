"""Pre-signing: a process's whole share of deliveries, signed before its users start.

`presign()` turns the plan's schedule into `Signed` deliveries (path, exact body, headers,
signature timestamp), each for a payment made up here, round-robin over the plan's
gateways. Users then only pop a delivery and send its bytes: no JSON, no HMAC, no uuid in
the request loop.
"""

from __future__ import annotations

import collections
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from readiness_harness.gateways.events import EventFactory, Payment, Signer
from readiness_harness.load.plan import STALE_AFTER_SECONDS, Action, Kind, LoadPlan, schedule
from readiness_harness.settings.secrets import Secrets


@dataclass(frozen=True)
class Signed:
    kind: Kind
    payment: Payment
    path: str
    body: bytes
    headers: dict[str, str]
    signed_at: int

    @property
    def name(self) -> str:
        """Locust's request name: one row per gateway and kind in its statistics."""
        return f"{self.payment.gateway} {self.kind}"


class Pool:
    """A process's pre-signed deliveries, handed out in schedule order."""

    def __init__(self, deliveries: list[Signed]) -> None:
        self._queue = collections.deque(deliveries)
        self.size = len(deliveries)
        self.stale = 0
        """Deliveries dropped unsent because their signature had aged past the limit."""

    def __len__(self) -> int:
        return len(self._queue)

    def take(self, now: float | None = None) -> Signed | None:
        """The next delivery whose signature is still fresh, or None when none is left."""
        moment = time.time() if now is None else now
        while self._queue:
            delivery = self._queue.popleft()
            if moment - delivery.signed_at <= STALE_AFTER_SECONDS:
                return delivery
            self.stale += 1
        return None


def payments_for(plan: LoadPlan, actions: list[Action]) -> list[Payment]:
    count = sum(1 for action in actions if action.kind == "capture")
    return [
        Payment.new(plan.gateways[index % len(plan.gateways)], plan.user_id, plan.pack_type)
        for index in range(count)
    ]


def presign(
    plan: LoadPlan,
    secrets: Secrets,
    start: float | None = None,
    rng: random.Random | None = None,
    yield_every: int = 0,
    pause: Callable[[float], object] | None = None,
) -> Pool:
    """Sign this process's share of the plan; `start` is the moment the schedule begins.
    With `pause`, call it every `yield_every` signatures (gevent.sleep lets a Locust
    worker's heartbeats out while it signs)."""
    begin = time.time() if start is None else start
    actions = schedule(plan, plan.process_share(), rng)
    payments = payments_for(plan, actions)
    signer = Signer(secrets)
    events = EventFactory()
    deliveries = []
    for index, action in enumerate(actions):
        payment = payments[action.payment]
        payload = events.refund(payment) if action.kind == "refund" else events.capture(payment)
        stamp = plan.signed_at(index, begin)
        delivery = signer.sign(payment.gateway, payload, timestamp=stamp)
        deliveries.append(Signed(action.kind, payment, delivery.path, delivery.body, delivery.headers, stamp))
        if pause is not None and yield_every and index % yield_every == yield_every - 1:
            pause(0)
    return Pool(deliveries)
