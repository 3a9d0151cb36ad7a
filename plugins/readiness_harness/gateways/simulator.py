"""The payment gateway, played by the harness: builds, signs and sends deliveries.

Steps ask this fixture for "a capture for this payment" and never see secrets,
signatures or sockets. `require(gateway)` decides first whether the example can be
measured at all on this target: not applicable when the target does not use the
gateway, not measured when the harness cannot sign deliveries the target would accept
(its secret was not given; PayPal without the sandbox).
"""

from __future__ import annotations

from typing import Any

from readiness_harness.checklist.needs import note_gateway
from readiness_harness.checklist.outcomes import not_applicable, not_measured
from readiness_harness.gateways import tampering
from readiness_harness.gateways.clients import Reply, WebhookClient
from readiness_harness.gateways.events import GATEWAYS, Delivery, EventFactory, GatewayName, Payment, Signer
from readiness_harness.target.target import GATEWAY_SECRETS, Target

PRIMARY_ORDER: tuple[GatewayName, ...] = ("standard", "stripe", "paypal")
"""The gateway a line about "any payment" uses: the first of these the target uses."""


class GatewaySimulator:
    def __init__(self, target: Target, client: WebhookClient) -> None:
        self.target = target
        self.client = client
        self.events = EventFactory()
        self.signer = Signer(target.secrets)

    def require(self, gateway: str) -> GatewayName:
        """The gateway, when this target can be sent deliveries of it it would accept;
        otherwise the example ends as not applicable or not measured, saying why."""
        if gateway not in GATEWAYS:
            raise ValueError(f"unknown gateway {gateway!r}: use stripe, paypal or standard")
        name: GatewayName = gateway
        note_gateway(name)
        if not self.target.uses(name):
            not_applicable(
                f"the target does not use {name} (its gateways: {', '.join(self.target.gateways) or 'none'})"
            )
        if self.target.embedded:
            return name
        if name == "paypal":
            self.target.require("paypal_signing")
        elif not self.target.secrets.given(GATEWAY_SECRETS[name]):
            not_measured(
                f"the harness cannot sign {name} deliveries this target accepts without its secret",
                option=f"the {GATEWAY_SECRETS[name]} environment variable",
            )
        return name

    @property
    def primary(self) -> GatewayName:
        """The gateway for lines about any payment: the first the target uses."""
        for gateway in PRIMARY_ORDER:
            if self.target.uses(gateway):
                return gateway
        not_applicable("the target uses no payment gateway")

    def secret_hint(self, reply: Reply) -> str:
        """For a 401 to a delivery the harness signed: which secret to check."""
        if reply.status_code != 401 or reply.delivery is None:
            return ""
        gateway = reply.delivery.gateway
        if gateway == "paypal":
            return (
                " (the target refused a PayPal delivery signed for the sandbox: check that its "
                "PAYPAL_API_BASE, PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_WEBHOOK_ID are the "
                "sandbox's)"
            )
        return (
            f" (the target refused a delivery signed with {GATEWAY_SECRETS[gateway]}: check that it is "
            f"the target's {gateway} webhook secret)"
        )

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
        return tampering.sensitive_values(
            delivery, [secret.reveal() for secret in self.target.secrets.values()]
        )

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
