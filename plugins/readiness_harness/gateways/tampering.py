"""Defective deliveries an attacker or a broken client sends, by their checklist name.

Each defect turns a payment's capture into the delivery that carries that defect; the
security feature names the defect and the status the service must answer.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from readiness_harness.gateways import clock
from readiness_harness.gateways.events import Delivery, EventFactory, Payment, Signer
from readiness_harness.settings.secrets import new_standard_secret

MAX_BODY_BYTES = 256 * 1024
SIGNATURE_HEADERS = ("webhook-signature", "Stripe-Signature", "PAYPAL-TRANSMISSION-SIG")

Defect = Callable[[Signer, Payment], Delivery]


def _capture(signer: Signer, payment: Payment, **kwargs: int | str) -> Delivery:
    return signer.sign(payment.gateway, EventFactory().capture(payment), **kwargs)  # type: ignore[arg-type]


def _without_signature(signer: Signer, payment: Payment) -> Delivery:
    return signer.unsigned(payment.gateway, EventFactory().capture(payment))


def _garbage_signature(signer: Signer, payment: Payment) -> Delivery:
    delivery = _capture(signer, payment)
    if payment.gateway == "standard":
        return delivery.with_headers(**{"webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl"})
    if payment.gateway == "stripe":
        return delivery.with_headers(**{"Stripe-Signature": f"t={int(time.time())},v1=deadbeef"})
    return delivery.with_headers(**{"PAYPAL-TRANSMISSION-SIG": "bm90IGEgc2lnbmF0dXJl"})


def _wrong_secret(signer: Signer, payment: Payment) -> Delivery:
    wrong = new_standard_secret() if payment.gateway == "standard" else "whsec_not_the_secret"
    return _capture(signer, payment, secret=wrong)


def _signed_at(make_timestamp: Callable[[], int]) -> Defect:
    def defect(signer: Signer, payment: Payment) -> Delivery:
        return _capture(signer, payment, timestamp=make_timestamp())

    return defect


_TIMESTAMP_DEFECT = re.compile(r"a timestamp (\d+) seconds (old|in the future)")


def _altered_byte(signer: Signer, payment: Payment) -> Delivery:
    """Signed, then one byte of the event id in the body changed (as in transit)."""
    delivery = _capture(signer, payment)
    marker = payment.capture_event_id.encode()
    position = delivery.body.index(marker) + len(marker) - 1
    flipped = b"0" if delivery.body[position : position + 1] != b"0" else b"1"
    return delivery.with_body(delivery.body[:position] + flipped + delivery.body[position + 1 :])


def _malformed_json(signer: Signer, payment: Payment) -> Delivery:
    body = json.dumps(EventFactory().capture(payment)).encode()[:-7]  # cut mid-object
    return signer.sign_raw(payment.gateway, body, event_id=payment.capture_event_id)


def _oversized(signer: Signer, payment: Payment) -> Delivery:
    payload = EventFactory().capture(payment)
    payload["padding"] = "x" * (MAX_BODY_BYTES + 1024)
    return signer.sign(payment.gateway, payload)


def _text_plain(signer: Signer, payment: Payment) -> Delivery:
    return _capture(signer, payment).with_headers(**{"Content-Type": "text/plain"})


DEFECTS: dict[str, Defect] = {
    "no signature": _without_signature,
    "a garbage signature": _garbage_signature,
    "a signature made with the wrong secret": _wrong_secret,
    "one byte of the body altered after signing": _altered_byte,
    "malformed JSON under a valid signature": _malformed_json,
    "a body over 256 KiB": _oversized,
    "the content type text/plain": _text_plain,
}


def defective_capture(signer: Signer, payment: Payment, defect: str) -> Delivery:
    """The capture of `payment` carrying `defect`, named as the security feature names it
    ("a timestamp 330 seconds old" takes any whole number of seconds)."""
    timed = _TIMESTAMP_DEFECT.fullmatch(defect)
    if timed is not None:
        seconds, direction = int(timed.group(1)), timed.group(2)
        if direction == "old":
            return _signed_at(lambda: clock.at_least_seconds_old(seconds))(signer, payment)
        return _signed_at(lambda: clock.at_least_seconds_ahead(seconds))(signer, payment)
    try:
        make = DEFECTS[defect]
    except KeyError:
        known = ", ".join(
            [*sorted(DEFECTS), "a timestamp N seconds old", "a timestamp N seconds in the future"]
        )
        raise ValueError(f"unknown defect {defect!r}; the harness knows: {known}") from None
    return make(signer, payment)


def sensitive_values(delivery: Delivery, secrets: list[str]) -> list[str]:
    """What must never appear in logs or the audit trail: secrets and signatures."""
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    signatures = [headers[name.lower()] for name in SIGNATURE_HEADERS if name.lower() in headers]
    values = [value for value in [*secrets, *signatures] if value]
    # Stripe's header holds the signature after "v1="; look for the digest itself too.
    values += [
        part.split("=", 1)[1] for value in signatures for part in value.split(",") if part.startswith("v1=")
    ]
    return values


def audit_keys(delivery: Delivery) -> list[str]:
    """Ids the service may file a delivery's audit entry under, best first."""
    headers = {name.lower(): value for name, value in delivery.headers.items()}
    keys = [delivery.event_id, headers.get("webhook-id", ""), headers.get("paypal-transmission-id", "")]
    return [key for key in dict.fromkeys(keys) if key]
