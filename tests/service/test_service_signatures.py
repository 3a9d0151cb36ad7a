"""Signature basics and bad input: clear 4xx, audited, nothing written, no secret leaked.

The complete security suite comes later; these pin the contract's rules 5 and 6.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from service_kit import (
    PACK,
    USER_ID,
    RawSigner,
    ServiceDb,
    assert_captured,
    assert_leaks_nothing,
    seconds_ago,
    seconds_ago_at_most,
    seconds_ahead,
    seconds_ahead_at_most,
)

from readiness_harness.gateways.clients import AdminClient, Reply, WebhookClient
from readiness_harness.gateways.events import Delivery, EventFactory, GatewayName, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target

MAX_BODY = 256 * 1024


@pytest.fixture
def standard_payment(payment_gateway: GatewaySimulator) -> Payment:
    return Payment.new(payment_gateway.require("standard"), USER_ID, PACK)


def assert_rejected_and_nothing_written(
    reply: Reply,
    status: int,
    payment: Payment,
    delivery: Delivery,
    admin_client: AdminClient,
    service_db: ServiceDb,
    readiness_target: Target,
) -> list[dict[str, Any]]:
    assert reply.status_code == status, reply
    assert set(reply.body) == {"detail"}, reply.body
    assert service_db.purchases(payment.payment_id) == []
    assert service_db.processed_events(payment.payment_id) == []
    assert admin_client.purchase(payment.payment_id).status_code == 404
    entries = admin_client.audit(payment.payment_id)
    assert [entry["outcome"] for entry in entries] == ["rejected"], entries
    assert_leaks_nothing(entries, readiness_target.secrets, delivery)
    return entries


def one_byte_changed(body: bytes, old: bytes, new: bytes) -> bytes:
    changed = body.replace(old, new, 1)
    assert len(changed) == len(body)
    assert sum(a != b for a, b in zip(body, changed, strict=True)) == 1
    return changed


# --- missing, wrong and stale signatures -------------------------------------------------


def test_an_unsigned_capture_is_rejected_audited_and_delivers_nothing(
    payment_gateway: GatewaySimulator,
    payment: Payment,
    admin_client: AdminClient,
    service_db: ServiceDb,
    readiness_target: Target,
) -> None:
    delivery = payment_gateway.unsigned_capture(payment)
    entries = assert_rejected_and_nothing_written(
        payment_gateway.send(delivery), 401, payment, delivery, admin_client, service_db, readiness_target
    )
    assert entries[0]["event_id"] == payment.capture_event_id
    assert entries[0]["gateway"] == payment.gateway
    assert entries[0]["type"] == "payment.captured"
    # the genuine, signed capture still goes through afterwards
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)


def test_a_capture_signed_with_the_wrong_secret_is_rejected(
    payment_gateway: GatewaySimulator,
    payment: Payment,
    admin_client: AdminClient,
    service_db: ServiceDb,
    readiness_target: Target,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cardpack_service")
    delivery = payment_gateway.forged_capture(payment)
    assert_rejected_and_nothing_written(
        payment_gateway.send(delivery), 401, payment, delivery, admin_client, service_db, readiness_target
    )
    # nor does the service log them (it runs in this process: its records are captured)
    logged = [{"message": record.getMessage()} for record in caplog.records]
    assert_leaks_nothing(logged, readiness_target.secrets, delivery)


def test_a_signed_body_altered_by_one_byte_is_rejected(
    payment_gateway: GatewaySimulator,
    payment: Payment,
    admin_client: AdminClient,
    service_db: ServiceDb,
    readiness_target: Target,
) -> None:
    genuine = payment_gateway.capture(payment)
    # the user id is the one thing an attacker would change: deliver the pack to "user-43"
    tampered = genuine.with_body(one_byte_changed(genuine.body, b"user-42", b"user-43"))
    reply = payment_gateway.send(tampered)
    assert reply.status_code == 401, reply
    assert service_db.purchases(payment.payment_id) == []
    assert_leaks_nothing(admin_client.audit(payment.payment_id), readiness_target.secrets, genuine)


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(lambda: seconds_ago(301), id="301s-old"),
        pytest.param(lambda: seconds_ahead(301), id="301s-ahead"),
    ],
)
def test_a_timestamp_outside_five_minutes_is_rejected(
    payment_gateway: GatewaySimulator,
    payment: Payment,
    admin_client: AdminClient,
    service_db: ServiceDb,
    readiness_target: Target,
    timestamp: Callable[[], int],
) -> None:
    delivery = payment_gateway.signed(payment.gateway, EventFactory().capture(payment), timestamp=timestamp())
    assert_rejected_and_nothing_written(
        payment_gateway.send(delivery), 401, payment, delivery, admin_client, service_db, readiness_target
    )


def test_a_timestamp_299s_old_is_accepted(payment_gateway: GatewaySimulator, payment: Payment) -> None:
    delivery = payment_gateway.signed(
        payment.gateway, EventFactory().capture(payment), timestamp=seconds_ago_at_most(299)
    )
    assert_captured(payment_gateway.send(delivery), payment.payment_id)


def test_a_timestamp_299s_ahead_is_accepted(payment_gateway: GatewaySimulator, payment: Payment) -> None:
    delivery = payment_gateway.signed(
        payment.gateway, EventFactory().capture(payment), timestamp=seconds_ahead_at_most(299)
    )
    assert_captured(payment_gateway.send(delivery), payment.payment_id)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("v1", id="no-digest"),
        pytest.param("t=abc,v1=00", id="bad-timestamp"),
        pytest.param("t=1,v0=00", id="wrong-scheme"),
    ],
)
def test_a_malformed_stripe_signature_header_is_rejected(
    payment_gateway: GatewaySimulator, admin_client: AdminClient, service_db: ServiceDb, header: str
) -> None:
    payment = Payment.new(payment_gateway.require("stripe"), USER_ID, PACK)
    delivery = payment_gateway.capture(payment).with_headers(Stripe_Signature=header)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 401, reply
    assert service_db.purchases(payment.payment_id) == []
    assert [entry["outcome"] for entry in admin_client.audit(payment.payment_id)] == ["rejected"]


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("", id="empty"),
        pytest.param("v1", id="no-comma"),
        pytest.param("v1,not-base64!", id="not-base64"),
        pytest.param("v2,AAAA", id="unknown-version"),
    ],
)
def test_a_malformed_standard_signature_header_is_rejected(
    payment_gateway: GatewaySimulator, standard_payment: Payment, service_db: ServiceDb, signature: str
) -> None:
    delivery = payment_gateway.capture(standard_payment).with_headers(webhook_signature=signature)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 401, reply
    assert service_db.purchases(standard_payment.payment_id) == []


# --- bad input under a valid signature ---------------------------------------------------


@pytest.mark.parametrize(
    "body", [b'{"id": "evt_1", "type": "payment.captured"', b"not json", b"[1, 2]", b'"x"']
)
@pytest.mark.parametrize("gateway", ["standard", "stripe"])
def test_a_validly_signed_body_that_is_not_a_json_object_is_400(
    raw_signer: RawSigner, payment_gateway: GatewaySimulator, gateway: str, body: bytes
) -> None:
    delivery = raw_signer.standard(body) if gateway == "standard" else raw_signer.stripe(body)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 400, reply
    assert "detail" in reply.body


def test_an_unknown_pack_type_is_422_audited_and_delivers_nothing(
    payment_gateway: GatewaySimulator,
    admin_client: AdminClient,
    service_db: ServiceDb,
    readiness_target: Target,
    gateway: GatewayName,
) -> None:
    payment = Payment.new(gateway, USER_ID, "diamond")
    delivery = payment_gateway.capture(payment)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 422, reply
    assert "diamond" in json.dumps(reply.body)
    assert service_db.purchases(payment.payment_id) == []
    assert service_db.processed_events(payment.payment_id) == []
    entries = admin_client.audit(payment.payment_id)
    assert [(entry["type"], entry["outcome"]) for entry in entries] == [("payment.captured", "rejected")]
    assert_leaks_nothing(entries, readiness_target.secrets, delivery)


def test_a_capture_without_user_or_pack_is_422(
    payment_gateway: GatewaySimulator,
    standard_payment: Payment,
    admin_client: AdminClient,
    service_db: ServiceDb,
) -> None:
    payload = EventFactory().capture(standard_payment)
    del payload["pack_type"]
    reply = payment_gateway.send(payment_gateway.signed("standard", payload))
    assert reply.status_code == 422, reply
    assert service_db.purchases(standard_payment.payment_id) == []
    assert [entry["outcome"] for entry in admin_client.audit(standard_payment.payment_id)] == ["rejected"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_wrong_content_type_is_415(
    payment_gateway: GatewaySimulator,
    standard_payment: Payment,
    admin_http: httpx.Client,
    service_db: ServiceDb,
    readiness_target: Target,
    content_type: str | None,
) -> None:
    delivery = payment_gateway.capture(standard_payment).with_headers(Content_Type=content_type)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 415, reply
    assert service_db.purchases(standard_payment.payment_id) == []
    entries = [
        entry
        for entry in admin_http.get("/audit", params={"limit": 50}).json()["entries"]
        if entry["event_id"] == delivery.event_id
    ]
    assert [entry["outcome"] for entry in entries] == ["rejected"]
    assert_leaks_nothing(entries, readiness_target.secrets, delivery)


def test_a_json_media_type_with_charset_is_accepted(
    payment_gateway: GatewaySimulator, standard_payment: Payment
) -> None:
    delivery = payment_gateway.capture(standard_payment).with_headers(
        Content_Type="application/json; charset=utf-8"
    )
    assert_captured(payment_gateway.send(delivery), standard_payment.payment_id)


def padded_capture(payment_gateway: GatewaySimulator, payment: Payment, size: int) -> Delivery:
    """A validly signed capture whose body is exactly `size` bytes."""
    payload = EventFactory().capture(payment)
    payload["padding"] = ""
    base = len(json.dumps(payload, separators=(",", ":")))
    payload["padding"] = "x" * (size - base)
    delivery = payment_gateway.signed(payment.gateway, payload)
    assert len(delivery.body) == size
    return delivery


def test_a_body_over_256_kib_is_413(
    payment_gateway: GatewaySimulator,
    standard_payment: Payment,
    service_db: ServiceDb,
    admin_http: httpx.Client,
) -> None:
    delivery = padded_capture(payment_gateway, standard_payment, MAX_BODY + 1)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 413, reply
    assert service_db.purchases(standard_payment.payment_id) == []
    entries = admin_http.get("/audit", params={"limit": 50}).json()["entries"]
    assert [entry["outcome"] for entry in entries if entry["event_id"] == delivery.event_id] == ["rejected"]


def test_a_body_of_exactly_256_kib_is_accepted(
    payment_gateway: GatewaySimulator, standard_payment: Payment
) -> None:
    reply = payment_gateway.send(padded_capture(payment_gateway, standard_payment, MAX_BODY))
    assert_captured(reply, standard_payment.payment_id)


def test_a_chunked_body_over_256_kib_is_413(
    payment_gateway: GatewaySimulator,
    standard_payment: Payment,
    readiness_target: Target,
    service_db: ServiceDb,
) -> None:
    """No Content-Length to trust: the limit holds while the body streams in."""
    delivery = padded_capture(payment_gateway, standard_payment, MAX_BODY + 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(delivery.body), 16 * 1024):
            yield delivery.body[start : start + 16 * 1024]

    with httpx.Client(base_url=readiness_target.url, timeout=30, verify=readiness_target.verify) as client:
        response = client.post(delivery.path, content=chunks(), headers=delivery.headers)
    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert response.status_code == 413, response.text
    assert service_db.purchases(standard_payment.payment_id) == []


def test_a_capture_rejected_for_its_pack_can_be_retried_corrected(
    payment_gateway: GatewaySimulator, standard_payment: Payment, service_db: ServiceDb
) -> None:
    """A 422 records nothing but the audit row, so the same event id, fixed, still delivers."""
    wrong = EventFactory().capture(standard_payment) | {"pack_type": "diamond"}
    assert payment_gateway.send(payment_gateway.signed("standard", wrong)).status_code == 422
    assert_captured(
        payment_gateway.send(payment_gateway.capture(standard_payment)), standard_payment.payment_id
    )
    assert service_db.live_cards(standard_payment.payment_id) == 5


# --- unverified bodies of any shape -------------------------------------------------------

ODD_SHAPES: list[Any] = [
    pytest.param(
        "stripe", {"id": "evt_odd1", "type": "charge.captured", "data": "x"}, id="stripe-data-string"
    ),
    pytest.param(
        "stripe",
        {
            "id": "evt_odd2",
            "type": "charge.captured",
            "data": {"object": {"payment_intent": "pi_1", "metadata": "x"}},
        },
        id="stripe-metadata-string",
    ),
    pytest.param(
        "paypal",
        {
            "id": "WH-ODD3",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "CAPODD3", "custom_id": "u:black", "amount": "5.00"},
        },
        id="paypal-amount-string",
    ),
    pytest.param(
        "standard", {"id": {"nested": 1}, "type": "payment.captured", "payment_id": []}, id="standard-odd"
    ),
]


@pytest.mark.parametrize(("gateway", "payload"), ODD_SHAPES)
def test_an_unsigned_body_of_any_shape_is_401(
    payment_gateway: GatewaySimulator, gateway: GatewayName, payload: dict[str, Any]
) -> None:
    """The handler reads what an unverified body claims (for the audit row) and must not
    crash on it: 401, never 500. (Was 500 before webhooks.py `_claimed_identity` caught
    every exception.)"""
    payment_gateway.require(gateway)
    reply = payment_gateway.send(payment_gateway.signer.unsigned(gateway, payload))
    assert reply.status_code == 401, reply


@pytest.mark.parametrize(("gateway", "payload"), ODD_SHAPES[:3])
def test_a_signed_payload_of_an_unexpected_shape_is_a_4xx(
    payment_gateway: GatewaySimulator, gateway: GatewayName, payload: dict[str, Any]
) -> None:
    payment_gateway.require(gateway)
    reply = payment_gateway.send(payment_gateway.signed(gateway, payload))
    assert 400 <= reply.status_code < 500, reply


@pytest.mark.parametrize("gateway", ["standard", "stripe"])
def test_unsigned_deliveries_cannot_mint_metric_labels(
    payment_gateway: GatewaySimulator, webhook_client: WebhookClient, gateway: GatewayName
) -> None:
    payment = Payment.new(payment_gateway.require(gateway), USER_ID, PACK)
    claimed_type = "probe-" + uuid.uuid4().hex
    delivery = payment_gateway.signer.unsigned(gateway, EventFactory().other(payment, claimed_type))
    assert payment_gateway.send(delivery).status_code == 401
    _, metrics = webhook_client.get_text("/metrics")
    assert claimed_type not in metrics
