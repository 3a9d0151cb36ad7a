"""Gateway events as the gateways send them, signed the way each gateway signs.

`EventFactory` builds payloads (Stripe, PayPal, or the standard event) for a payment;
`sign()` turns a payload into a `Delivery`: the path, the exact body bytes and the
headers. Signatures are made with the gateways' own schemes, so the service verifies
them with the real `stripe` and `standardwebhooks` libraries. PayPal signs with its
private key; the harness stands in for PayPal's verification API (see paypal_sandbox).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from standardwebhooks.webhooks import Webhook

from readiness_harness.gateways.paypal_sandbox import transmission_signature
from readiness_harness.settings.secrets import Secrets

GatewayName = Literal["stripe", "paypal", "standard"]
GATEWAYS: tuple[GatewayName, ...] = ("stripe", "paypal", "standard")
PATHS: dict[str, str] = {
    "standard": "/webhooks/payments",
    "stripe": "/webhooks/stripe",
    "paypal": "/webhooks/paypal",
}


@dataclass(frozen=True)
class Payment:
    """A payment the harness makes up: unique per scenario so runs never collide."""

    gateway: GatewayName
    user_id: str
    pack_type: str
    payment_id: str
    capture_event_id: str
    refund_event_id: str
    amount: int = 500
    currency: str = "usd"
    created_at: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def new(cls, gateway: GatewayName, user_id: str, pack_type: str) -> Payment:
        """A fresh payment; its capture and refund events keep their ids (and bodies) on
        every delivery, as a gateway's retries do."""
        prefix = {"stripe": "pi_", "paypal": "CAP", "standard": "TX"}[gateway]
        return cls(
            gateway,
            user_id,
            pack_type,
            prefix + uuid.uuid4().hex[:20].upper(),
            new_event_id(gateway),
            new_event_id(gateway),
        )


@dataclass(frozen=True)
class Delivery:
    gateway: GatewayName
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    event_id: str = ""

    def with_headers(self, **changes: str | None) -> Delivery:
        """A copy with headers replaced (None removes one); the body is untouched."""
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in {name.lower().replace("_", "-") for name in changes}
        }
        for name, value in changes.items():
            if value is not None:
                headers[name.replace("_", "-")] = value
        return replace(self, headers=headers)

    def with_body(self, body: bytes) -> Delivery:
        return replace(self, body=body)


def new_event_id(gateway: GatewayName) -> str:
    prefix = {"stripe": "evt_", "paypal": "WH-", "standard": "evt_"}[gateway]
    return prefix + uuid.uuid4().hex.upper()


class EventFactory:
    """Payloads for capture, refund and other event types, per gateway."""

    def capture(self, payment: Payment, event_id: str | None = None) -> dict[str, Any]:
        event_id = event_id or payment.capture_event_id
        if payment.gateway == "stripe":
            return _stripe_event(
                event_id,
                "payment_intent.succeeded",
                {
                    "id": payment.payment_id,
                    "object": "payment_intent",
                    "amount": payment.amount,
                    "amount_received": payment.amount,
                    "currency": payment.currency,
                    "status": "succeeded",
                    "metadata": {"user_id": payment.user_id, "pack_type": payment.pack_type},
                },
                payment.created_at,
            )
        if payment.gateway == "paypal":
            return _paypal_event(
                event_id,
                "PAYMENT.CAPTURE.COMPLETED",
                {
                    "id": payment.payment_id,
                    "status": "COMPLETED",
                    "amount": {
                        "currency_code": payment.currency.upper(),
                        "value": f"{payment.amount / 100:.2f}",
                    },
                    "custom_id": f"{payment.user_id}:{payment.pack_type}",
                    "final_capture": True,
                },
                payment.created_at,
            )
        return _standard_event(event_id, "payment.captured", payment)

    def refund(self, payment: Payment, event_id: str | None = None) -> dict[str, Any]:
        event_id = event_id or payment.refund_event_id
        if payment.gateway == "stripe":
            return _stripe_event(
                event_id,
                "charge.refunded",
                {
                    "id": "ch_" + payment.payment_id.removeprefix("pi_"),
                    "object": "charge",
                    "payment_intent": payment.payment_id,
                    "amount": payment.amount,
                    "amount_refunded": payment.amount,
                    "currency": payment.currency,
                    "refunded": True,
                },
                payment.created_at,
            )
        if payment.gateway == "paypal":
            return _paypal_event(
                event_id,
                "PAYMENT.CAPTURE.REFUNDED",
                {
                    "id": "REF" + payment.payment_id.removeprefix("CAP"),
                    "status": "COMPLETED",
                    "amount": {
                        "currency_code": payment.currency.upper(),
                        "value": f"{payment.amount / 100:.2f}",
                    },
                    "links": [
                        {
                            "href": f"https://api.paypal.com/v2/payments/captures/{payment.payment_id}",
                            "rel": "up",
                            "method": "GET",
                        },
                    ],
                },
                payment.created_at,
            )
        return _standard_event(event_id, "payment.refunded", payment)

    def other(self, payment: Payment, event_type: str) -> dict[str, Any]:
        """An event of a type the service does not act on (customer.created, say)."""
        event_id = new_event_id(payment.gateway)
        if payment.gateway == "stripe":
            return _stripe_event(event_id, event_type, {"id": payment.payment_id}, payment.created_at)
        if payment.gateway == "paypal":
            return _paypal_event(event_id, event_type, {"id": payment.payment_id}, payment.created_at)
        return {**_standard_event(event_id, "payment.captured", payment), "type": event_type}


def _stripe_event(event_id: str, event_type: str, obj: dict[str, Any], created_at: int) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created_at,
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def _paypal_event(
    event_id: str, event_type: str, resource: dict[str, Any], created_at: int
) -> dict[str, Any]:
    return {
        "id": event_id,
        "event_version": "1.0",
        "create_time": datetime.fromtimestamp(created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resource_type": "capture" if "CAPTURE.COMPLETED" in event_type else "refund",
        "event_type": event_type,
        "summary": event_type,
        "resource": resource,
    }


def _standard_event(event_id: str, event_type: str, payment: Payment) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": event_type,
        "gateway": "standard",
        "payment_id": payment.payment_id,
        "user_id": payment.user_id,
        "pack_type": payment.pack_type,
        "amount": payment.amount,
        "currency": payment.currency,
        "occurred_at": datetime.fromtimestamp(payment.created_at, UTC).isoformat(),
    }


class Signer:
    """Signs payloads the way each gateway does, with the shared secrets."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets

    def sign(
        self,
        gateway: GatewayName,
        payload: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self.sign_raw(
            gateway, body, event_id=str(payload.get("id", "")), timestamp=timestamp, secret=secret
        )

    def sign_raw(
        self,
        gateway: GatewayName,
        body: bytes,
        *,
        event_id: str = "",
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Delivery:
        """Sign exact bytes (even ones that are not JSON), as the gateway would."""
        signed_at = int(time.time()) if timestamp is None else int(timestamp)
        headers = {"Content-Type": "application/json"}
        if gateway == "standard":
            webhook = Webhook(secret or self.secrets.payments_webhook_secret.reveal())
            msg_id = event_id or new_event_id(gateway)
            headers |= {
                "webhook-id": msg_id,
                "webhook-timestamp": str(signed_at),
                "webhook-signature": webhook.sign(
                    msg_id, datetime.fromtimestamp(signed_at, tz=UTC), body.decode()
                ),
            }
        elif gateway == "stripe":
            key = (secret or self.secrets.stripe_webhook_secret.reveal()).encode()
            stamp = signed_at
            digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
            headers["Stripe-Signature"] = f"t={stamp},v1={digest}"
        else:
            transmission_id = str(uuid.uuid4())
            sent = datetime.fromtimestamp(signed_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            webhook_id = self.secrets.paypal_webhook_id
            headers |= {
                "PAYPAL-AUTH-ALGO": "SHA256withRSA",
                "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/CERT-harness",
                "PAYPAL-TRANSMISSION-ID": transmission_id,
                "PAYPAL-TRANSMISSION-TIME": sent,
                "PAYPAL-TRANSMISSION-SIG": transmission_signature(
                    secret or self.secrets.paypal_client_secret.reveal(),
                    transmission_id,
                    sent,
                    webhook_id,
                    body,
                ),
            }
        return Delivery(gateway, PATHS[gateway], body, headers, event_id)

    def unsigned(self, gateway: GatewayName, payload: dict[str, Any]) -> Delivery:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Delivery(
            gateway, PATHS[gateway], body, {"Content-Type": "application/json"}, str(payload.get("id", ""))
        )
