"""Stripe: `Stripe-Signature` verified by the stripe library on the raw body.

`payment_intent.succeeded` (payment id = the PaymentIntent id) and `charge.captured`
(payment id = the charge's `payment_intent`) capture; `charge.refunded` refunds. User and
pack come from the object's `metadata.user_id` / `metadata.pack_type`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import stripe

from ..config import Settings
from ..events import CAPTURED, REFUNDED, IgnoredEvent, InvalidEvent, StandardEvent, build_event
from . import GatewayNotConfigured, SignatureRejected

CAPTURE_TYPES = frozenset({"payment_intent.succeeded", "charge.captured"})
REFUND_TYPES = frozenset({"charge.refunded"})


class StripeGateway:
    name = "stripe"
    verification_does_io = False

    def event_id_hint(self, headers: Mapping[str, str]) -> str | None:
        return None  # Stripe carries the event id only in the (unverified) body

    def verify(self, raw: bytes, headers: Mapping[str, str], settings: Settings) -> None:
        if settings.stripe_webhook_secret is None:
            raise GatewayNotConfigured("STRIPE_WEBHOOK_SECRET is not set")
        header = headers.get("stripe-signature")
        if not header:
            raise SignatureRejected("missing Stripe-Signature header")
        try:
            # Verification only: the handler parses the body once, after this passes
            # (construct_event would also parse it into an Event nobody reads).
            stripe.WebhookSignature.verify_header(
                raw,
                header,
                settings.stripe_webhook_secret.get_secret_value(),
                tolerance=settings.signature_tolerance_s,
            )
        except stripe.SignatureVerificationError as exc:
            raise SignatureRejected(f"Stripe signature rejected: {exc.user_message}") from exc
        except UnicodeDecodeError as exc:  # the signature is over text: bad input, not a 500
            raise InvalidEvent("body is not valid UTF-8 JSON") from exc
        # The library only bounds the past; a timestamp from the future is refused too. The
        # timestamp is read by the library's own parser, so it is the one the signature
        # was checked against ("t =NOW,t=FUTURE,v1=..." signs FUTURE, and FUTURE is refused).
        signed_at = _signed_timestamp(header)
        if signed_at > time.time() + settings.signature_tolerance_s:
            raise SignatureRejected("Stripe-Signature timestamp is in the future")

    def to_event(self, payload: dict[str, Any]) -> StandardEvent | IgnoredEvent:
        event_id = str(payload.get("id") or "")
        event_type = str(payload.get("type") or "")
        obj = (payload.get("data") or {}).get("object") or {}
        if not isinstance(obj, dict):
            raise InvalidEvent("data.object must be an object", event_id=event_id)
        if event_type not in CAPTURE_TYPES | REFUND_TYPES:
            return IgnoredEvent(id=event_id, type=event_type, payment_id=_payment_id(obj))
        payment_id = obj.get("id") if event_type == "payment_intent.succeeded" else obj.get("payment_intent")
        if not event_id or not payment_id:
            raise InvalidEvent(
                f"{event_type} without event id or payment intent",
                status_code=422,
                event_id=event_id or None,
                event_type=event_type,
            )
        metadata = obj.get("metadata") or {}
        amount = obj.get("amount_received") or obj.get("amount_captured") or obj.get("amount")
        return build_event(
            id=event_id,
            type=CAPTURED if event_type in CAPTURE_TYPES else REFUNDED,
            gateway=self.name,
            payment_id=str(payment_id),
            user_id=_str_or_none(metadata.get("user_id")),
            pack_type=_str_or_none(metadata.get("pack_type")),
            amount=int(amount) if isinstance(amount, int) else None,
            currency=_str_or_none(obj.get("currency")),
        )


def _payment_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("payment_intent") or obj.get("id")
    return None if value is None else str(value)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _signed_timestamp(header: str) -> int:
    """The timestamp `verify_header` checked the signature against, parsed by the same
    (private) function of the stripe library: any other reading of the header could pick
    a different `t`. tests/service pins that this still holds for the installed version."""
    try:
        timestamp, _ = stripe.WebhookSignature._get_timestamp_and_signatures(
            header, stripe.WebhookSignature.EXPECTED_SCHEME
        )
    except Exception as exc:  # verify_header parsed it a moment ago; refuse rather than guess
        raise SignatureRejected("Stripe-Signature header has no timestamp") from exc
    return int(timestamp)
