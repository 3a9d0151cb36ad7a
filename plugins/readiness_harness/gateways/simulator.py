"""The payment gateway, played by the harness: builds, signs and sends deliveries.

Steps ask this fixture for "a capture for this payment" and never see secrets,
signatures or sockets.
"""

from __future__ import annotations

from typing import Any

import pytest

from readiness_harness.gateways import tampering
from readiness_harness.gateways.clients import Reply, WebhookClient
from readiness_harness.gateways.events import Delivery, EventFactory, GatewayName, Payment, Signer
from readiness_harness.target.stack import Target

SECRET_FOR: dict[str, str] = {
    "standard": "PAYMENTS_WEBHOOK_SECRET",
    "stripe": "STRIPE_WEBHOOK_SECRET",
}


class GatewaySimulator:
    def __init__(self, target: Target, client: WebhookClient) -> None:
        self.target = target
        self.client = client
        self.events = EventFactory()
        self.signer = Signer(target.secrets)

    def require(self, gateway: str) -> GatewayName:
        """Skip (not measured) when this target cannot be sent signed events of `gateway`."""
        if gateway not in ("stripe", "paypal", "standard"):
            raise pytest.UsageError(f"unknown gateway {gateway!r}: use stripe, paypal or standard")
        if self.target.embedded:
            return gateway  # type: ignore[return-value]
        if gateway == "paypal":
            pytest.skip(
                "PayPal events are signed by PayPal; a deployed target can only be "
                "checked for PayPal through its own sandbox (embedded default does)"
            )
        secret = SECRET_FOR[gateway]
        if secret in self.target.secrets.generated:
            pytest.skip(f"set {secret} to the target's secret to send it signed {gateway} events")
        return gateway  # type: ignore[return-value]

    def capture(self, payment: Payment, event_id: str | None = None) -> Delivery:
        return self.signer.sign(payment.gateway, self.events.capture(payment, event_id))

    def refund(self, payment: Payment) -> Delivery:
        return self.signer.sign(payment.gateway, self.events.refund(payment))

    def other(self, payment: Payment, event_type: str) -> Delivery:
        return self.signer.sign(payment.gateway, self.events.other(payment, event_type))

    def forged_capture(self, payment: Payment) -> Delivery:
        """A capture signed with a key that is not the shared secret."""
        return self.defective_capture(payment, "a signature made with the wrong secret")

    def defective_capture(self, payment: Payment, defect: str) -> Delivery:
        return tampering.defective_capture(self.signer, payment, defect)

    def sensitive_values(self, delivery: Delivery) -> list[str]:
        secrets = self.target.secrets.service_environment()
        return tampering.sensitive_values(
            delivery,
            [
                secrets[name]
                for name in (
                    "PAYMENTS_WEBHOOK_SECRET",
                    "STRIPE_WEBHOOK_SECRET",
                    "ADMIN_TOKEN",
                    "PAYPAL_CLIENT_SECRET",
                )
            ],
        )

    def counts(self) -> dict[str, int]:
        """Row counts the service reports on /status (cards, purchases, artists)."""
        reply = self.client.get("/status")
        counts: dict[str, int] = reply.body.get("counts") or {}
        return counts

    def unsigned_capture(self, payment: Payment) -> Delivery:
        return self.signer.unsigned(payment.gateway, self.events.capture(payment))

    def signed(self, gateway: GatewayName, payload: dict[str, Any], **kwargs: Any) -> Delivery:
        return self.signer.sign(gateway, payload, **kwargs)

    def send(self, delivery: Delivery) -> Reply:
        return self.client.send(delivery)

    def send_repeatedly(self, delivery: Delivery, times: int) -> list[Reply]:
        return self.client.send_repeatedly(delivery, times)

    def send_concurrently(self, deliveries: list[Delivery]) -> list[Reply]:
        return self.client.send_concurrently(deliveries)
