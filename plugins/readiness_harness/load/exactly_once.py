"""After a load run: every payment it sent holds exactly one pack, or none left live if it
was refunded, read through the target's admin API.

A delivery that never got a 2xx answer is delivered again first (freshly signed, same event
id), as the gateway would retry it; only then is the purchase read. A payment fails the
check when its purchase is missing, holds other than one pack's cards, keeps live cards
after its refund, belongs to another user, or when a delivery is still refused after the
retries. The check never passes on partial data: a purchase it could not read is a failure.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from readiness_harness.gateways.events import EventFactory, Payment, Signer
from readiness_harness.load.ledger import Ledger, PaymentRecord
from readiness_harness.settings.secrets import Secrets

REDELIVERIES = 3
CONCURRENCY = 16
SHOWN_VIOLATIONS = 20


@dataclass(frozen=True)
class Violation:
    payment_id: str
    gateway: str
    problem: str

    def line(self) -> str:
        return f"{self.gateway} payment {self.payment_id}: {self.problem}"


@dataclass
class ExactlyOnce:
    payments: int
    checked: int = 0
    redelivered: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.payments > 0 and self.checked == self.payments and not self.violations

    def summary(self) -> str:
        if self.payments == 0:
            return "no payment was sent, so nothing shows exactly-once"
        if self.held:
            return (
                f"held for all {self.payments} payments ({self.redelivered} unanswered deliveries "
                "delivered again first)"
            )
        return f"FAILED for {len(self.violations)} of {self.payments} payments"

    def to_json(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "payments": self.payments,
            "checked": self.checked,
            "redelivered": self.redelivered,
            "violations": len(self.violations),
            "first_violations": [v.line() for v in self.violations[:SHOWN_VIOLATIONS]],
        }


class _Checker:
    def __init__(self, client: httpx.AsyncClient, secrets: Secrets, token: str, pack_size: int) -> None:
        self.client = client
        self.signer = Signer(secrets)
        self.events = EventFactory()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.pack_size = pack_size
        self.result: ExactlyOnce | None = None

    async def _deliver_until_acknowledged(self, payment: Payment, refund: bool) -> int:
        status = 0
        for _ in range(REDELIVERIES):
            payload = self.events.refund(payment) if refund else self.events.capture(payment)
            delivery = self.signer.sign(payment.gateway, payload)
            try:
                response = await self.client.post(
                    delivery.path, content=delivery.body, headers=delivery.headers
                )
                status = response.status_code
            except httpx.TransportError:
                status = 0
            assert self.result is not None  # nosec B101 # type narrowing: set before any redelivery
            self.result.redelivered += 1
            if 200 <= status < 300:
                return status
            await asyncio.sleep(0.2)
        return status

    async def check(self, record: PaymentRecord) -> Violation | None:
        payment = record.payment

        def violation(problem: str) -> Violation:
            return Violation(payment.payment_id, payment.gateway, problem)

        for refund, statuses in ((False, record.captures), (True, record.refunds)):
            if statuses and not any(200 <= status < 300 for status in statuses):
                status = await self._deliver_until_acknowledged(payment, refund)
                if not 200 <= status < 300:
                    what = "refund" if refund else "capture"
                    return violation(
                        f"its {what} was never acknowledged (statuses {statuses}, then {status} on "
                        f"{REDELIVERIES} redeliveries)"
                    )
        try:
            response = await self.client.get(
                f"/purchases/{payment.payment_id}", params={"gateway": payment.gateway}, headers=self.headers
            )
        except httpx.TransportError as exc:
            return violation(f"its purchase could not be read: {type(exc).__name__}")
        if response.status_code == 404:
            return violation("no purchase exists for it")
        if response.status_code != 200:
            return violation(f"reading its purchase answered HTTP {response.status_code}")
        return self._judge(record, response.json(), violation)

    def _judge(
        self, record: PaymentRecord, purchase: Any, violation: Callable[[str], Violation]
    ) -> Violation | None:
        if not isinstance(purchase, dict) or not isinstance(purchase.get("cards"), list):
            return violation(f"its purchase has no card list: {str(purchase)[:200]}")
        cards = purchase["cards"]
        live = [card for card in cards if not card.get("revoked")]
        status = purchase.get("status")
        if record.refunded:
            if status != "refunded":
                return violation(f"it was refunded but its purchase reads {status!r}")
            if live:
                return violation(f"it was refunded but {len(live)} of its cards are still live")
            if len(cards) not in (0, self.pack_size):
                return violation(f"its purchase holds {len(cards)} cards, not one pack of {self.pack_size}")
            return None
        if status != "active":
            return violation(f"its purchase reads {status!r}, not active")
        if len(cards) != self.pack_size or len(live) != self.pack_size:
            return violation(
                f"its purchase holds {len(cards)} cards ({len(live)} live), not one pack of {self.pack_size}"
            )
        if str(purchase.get("user_id")) != record.payment.user_id:
            return violation(f"its purchase belongs to user {purchase.get('user_id')!r}")
        return None


async def _check_all(
    ledger: Ledger,
    url: str,
    secrets: Secrets,
    verify: ssl.SSLContext | bool,
    pack_size: int,
    concurrency: int,
) -> ExactlyOnce:
    result = ExactlyOnce(payments=len(ledger.records))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"), timeout=30, verify=verify, limits=limits
    ) as client:
        checker = _Checker(client, secrets, secrets.admin_token.reveal(), pack_size)
        checker.result = result
        gate = asyncio.Semaphore(concurrency)

        async def one(record: PaymentRecord) -> None:
            async with gate:
                found = await checker.check(record)
            result.checked += 1
            if found is not None:
                result.violations.append(found)

        await asyncio.gather(*(one(record) for record in ledger.records.values()))
    return result


def check_exactly_once(
    ledger: Ledger,
    url: str,
    secrets: Secrets,
    verify: ssl.SSLContext | bool = True,
    pack_size: int = 5,
    concurrency: int = CONCURRENCY,
) -> ExactlyOnce:
    """Deliver again what was never acknowledged, then read every payment's purchase."""
    return asyncio.run(_check_all(ledger, url, secrets, verify, pack_size, concurrency))
