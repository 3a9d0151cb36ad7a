"""The timestamp window is the configured one, read the way the signature was checked.

- Stripe: `t =NOW,t=FUTURE,v1=<valid for FUTURE>` must not pass the future check by
  reading the first `t` (the library signs over the `t` it reads: FUTURE).
- Standard Webhooks: the library fixes its window at 5 minutes; the service's follows
  SIGNATURE_TOLERANCE_S, in both directions, with the library's signature check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator

import pytest
import stripe
from service_kit import (
    PACK,
    USER_ID,
    ServiceDb,
    assert_captured,
    second_service,
    seconds_ago,
    seconds_ago_at_most,
)

from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import EventFactory, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target


def _stripe_header(secret: str, body: bytes, header_for: Callable[[int, str], str], signed_at: int) -> str:
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + body, hashlib.sha256).hexdigest()
    return header_for(signed_at, digest)


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda future, sig: f"t ={int(time.time())},t={future},v1={sig}", id="spaced-t-first"),
        pytest.param(lambda future, sig: f"t={future},t ={int(time.time())},v1={sig}", id="spaced-t-second"),
        pytest.param(lambda future, sig: f"v1={sig},t\t={int(time.time())},t={future}", id="tab-t-first"),
        pytest.param(lambda future, sig: f"t={future},v1={sig}", id="plain"),
    ],
)
def test_a_stripe_signature_for_a_future_time_is_rejected_however_the_header_is_laid_out(
    payment_gateway: GatewaySimulator,
    readiness_target: Target,
    service_db: ServiceDb,
    layout: Callable[[int, str], str],
) -> None:
    payment = Payment.new(payment_gateway.require("stripe"), USER_ID, PACK)
    body = json.dumps(EventFactory().capture(payment)).encode()
    future = int(time.time()) + 3600
    header = _stripe_header(readiness_target.secrets.stripe_webhook_secret.reveal(), body, layout, future)
    # the header really is valid for the library: the signature checks out over FUTURE
    assert stripe.WebhookSignature.verify_header(
        body, header, readiness_target.secrets.stripe_webhook_secret.reveal()
    )
    delivery = payment_gateway.capture(payment).with_body(body).with_headers(Stripe_Signature=header)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 401, reply
    assert service_db.purchases(payment.payment_id) == []


def test_a_stripe_header_with_the_present_time_read_by_the_library_is_accepted(
    payment_gateway: GatewaySimulator, readiness_target: Target
) -> None:
    """The same unusual layout, with the signed `t` in the window, is fine: only the
    timestamp the signature covers counts."""
    payment = Payment.new(payment_gateway.require("stripe"), USER_ID, PACK)
    body = json.dumps(EventFactory().capture(payment)).encode()
    header = _stripe_header(
        readiness_target.secrets.stripe_webhook_secret.reveal(),
        body,
        lambda now, sig: f"t ={now + 3600},t={now},v1={sig}",
        int(time.time()),
    )
    delivery = payment_gateway.capture(payment).with_body(body).with_headers(Stripe_Signature=header)
    assert_captured(payment_gateway.send(delivery), payment.payment_id)


@pytest.fixture(scope="module", params=[120, 600], ids=["window-120s", "window-600s"])
def windowed(
    readiness_target: Target, request: pytest.FixtureRequest
) -> Iterator[tuple[GatewaySimulator, int]]:
    """A second service on the session's servers with another SIGNATURE_TOLERANCE_S."""
    tolerance = int(request.param)
    with second_service(readiness_target, SIGNATURE_TOLERANCE_S=str(tolerance)) as service:
        client = WebhookClient(service.url)
        try:
            yield GatewaySimulator(readiness_target, client), tolerance
        finally:
            client.close()


@pytest.mark.parametrize("gateway_name", ["standard", "stripe"])
def test_the_window_follows_the_configured_tolerance_both_ways(
    windowed: tuple[GatewaySimulator, int], gateway_name: str
) -> None:
    gateway, tolerance = windowed

    def send(timestamp: int) -> int:
        payment = Payment.new(gateway.require(gateway_name), USER_ID, PACK)
        delivery = gateway.signed(payment.gateway, EventFactory().capture(payment), timestamp=timestamp)
        return gateway.send(delivery).status_code

    inside = tolerance - 20
    assert send(seconds_ago_at_most(inside)) == 200, f"{inside}s old, inside a {tolerance}s window"
    assert send(int(time.time()) + inside) == 200, f"{inside}s ahead, inside a {tolerance}s window"
    assert send(seconds_ago(tolerance + 5)) == 401, f"{tolerance + 5}s old, outside"
    assert send(int(time.time()) + tolerance + 5) == 401, f"{tolerance + 5}s ahead, outside"


def test_a_standard_timestamp_that_is_not_a_finite_number_is_401(payment_gateway: GatewaySimulator) -> None:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    delivery = payment_gateway.capture(payment)
    for stamp in ("nan", "inf", "-inf", "1e400", "soon"):
        reply = payment_gateway.send(delivery.with_headers(webhook_timestamp=stamp))
        assert reply.status_code == 401, (stamp, reply)
