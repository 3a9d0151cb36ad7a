"""Gateway mapping: Stripe, PayPal and the standard event all land on capture/refund."""

from __future__ import annotations

from typing import Any

import pytest
from service_kit import PACK, PACK_SIZE, USER_ID, ServiceDb, assert_captured

from readiness_harness.gateways.clients import AdminClient
from readiness_harness.gateways.events import EventFactory, Payment, new_event_id
from readiness_harness.gateways.simulator import GatewaySimulator


def charge_captured(payment: Payment, event_id: str | None = None) -> dict[str, Any]:
    """A Stripe `charge.captured` event: the payment id is the charge's payment_intent."""
    return {
        "id": event_id or new_event_id("stripe"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": payment.created_at,
        "livemode": False,
        "type": "charge.captured",
        "data": {
            "object": {
                "id": "ch_" + payment.payment_id.removeprefix("pi_"),
                "object": "charge",
                "payment_intent": payment.payment_id,
                "amount": payment.amount,
                "amount_captured": payment.amount,
                "captured": True,
                "currency": payment.currency,
                "metadata": {"user_id": payment.user_id, "pack_type": payment.pack_type},
            }
        },
    }


def test_capture_then_refund(
    payment_gateway: GatewaySimulator, payment: Payment, admin_client: AdminClient, service_db: ServiceDb
) -> None:
    purchase_id = assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    assert service_db.live_cards(payment.payment_id) == PACK_SIZE

    reply = payment_gateway.send(payment_gateway.refund(payment))
    assert reply.status_code == 200, reply
    assert reply.body == {
        "status": "refunded",
        "payment_id": payment.payment_id,
        "result": {"cards_revoked": PACK_SIZE, "purchase_id": purchase_id},
    }
    assert service_db.live_cards(payment.payment_id) == 0
    assert admin_client.purchase(payment.payment_id).body["status"] == "refunded"
    outcomes = [
        (entry["gateway"], entry["type"], entry["outcome"])
        for entry in admin_client.audit(payment.payment_id)
    ]
    assert outcomes == [
        (payment.gateway, "payment.captured", "accepted"),
        (payment.gateway, "payment.refunded", "accepted"),
    ]


def test_a_retried_capture_is_a_duplicate(
    payment_gateway: GatewaySimulator, payment: Payment, service_db: ServiceDb
) -> None:
    """Retries keep the event id (and, for PayPal, get a fresh transmission)."""
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    reply = payment_gateway.send(payment_gateway.capture(payment))
    assert (reply.status_code, reply.body["status"]) == (200, "duplicate"), reply
    assert len(service_db.cards(payment.payment_id)) == PACK_SIZE


def test_another_capture_event_for_a_captured_payment_delivers_nothing(
    payment_gateway: GatewaySimulator, payment: Payment, service_db: ServiceDb
) -> None:
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    other_event = new_event_id(payment.gateway)
    reply = payment_gateway.send(payment_gateway.capture(payment, event_id=other_event))
    assert reply.status_code == 200, reply
    assert reply.body["status"] == "duplicate"
    assert reply.body["event_id"] == other_event
    assert len(service_db.cards(payment.payment_id)) == PACK_SIZE
    assert len(service_db.processed_events(payment.payment_id)) == 2


def test_an_unknown_event_type_is_ignored_and_audited(
    payment_gateway: GatewaySimulator, payment: Payment, admin_client: AdminClient, service_db: ServiceDb
) -> None:
    event_type = "customer.created" if payment.gateway != "paypal" else "CUSTOMER.DISPUTE.CREATED"
    reply = payment_gateway.send(payment_gateway.other(payment, event_type))
    assert reply.status_code == 200, reply
    assert reply.body == {"status": "ignored", "event_type": event_type}
    entries = admin_client.audit(payment.payment_id)
    assert [(entry["type"], entry["outcome"]) for entry in entries] == [(event_type, "ignored")]
    assert service_db.purchases(payment.payment_id) == []
    assert service_db.processed_events(payment.payment_id) == []


@pytest.mark.parametrize("first", ["charge.captured", "payment_intent.succeeded"])
def test_stripe_charge_captured_and_payment_intent_succeeded_capture_once(
    payment_gateway: GatewaySimulator, service_db: ServiceDb, first: str
) -> None:
    payment = Payment.new(payment_gateway.require("stripe"), USER_ID, PACK)
    via_charge = payment_gateway.signed("stripe", charge_captured(payment))
    via_intent = payment_gateway.capture(payment)
    deliveries = [via_charge, via_intent] if first == "charge.captured" else [via_intent, via_charge]

    purchase_id = assert_captured(payment_gateway.send(deliveries[0]), payment.payment_id)
    second = payment_gateway.send(deliveries[1])
    assert second.status_code == 200, second
    assert second.body == {
        "status": "duplicate",
        "payment_id": payment.payment_id,
        "event_id": deliveries[1].event_id,
        "purchase_id": purchase_id,
        "purchase_status": "active",
    }
    assert len(service_db.purchases(payment.payment_id)) == 1
    assert service_db.live_cards(payment.payment_id) == PACK_SIZE


def test_stripe_charge_refunded_revokes_a_charge_captured_purchase(
    payment_gateway: GatewaySimulator, service_db: ServiceDb
) -> None:
    payment = Payment.new(payment_gateway.require("stripe"), USER_ID, PACK)
    assert_captured(
        payment_gateway.send(payment_gateway.signed("stripe", charge_captured(payment))), payment.payment_id
    )
    refund = EventFactory().refund(payment)
    assert refund["type"] == "charge.refunded"
    reply = payment_gateway.send(payment_gateway.signed("stripe", refund))
    assert (reply.status_code, reply.body["status"], reply.body["result"]["cards_revoked"]) == (
        200,
        "refunded",
        PACK_SIZE,
    )
    assert service_db.live_cards(payment.payment_id) == 0


def test_paypal_events_map_to_capture_and_refund(
    payment_gateway: GatewaySimulator, service_db: ServiceDb
) -> None:
    payment = Payment.new(payment_gateway.require("paypal"), USER_ID, "gold")
    events = EventFactory()
    assert events.capture(payment)["event_type"] == "PAYMENT.CAPTURE.COMPLETED"
    assert events.refund(payment)["event_type"] == "PAYMENT.CAPTURE.REFUNDED"

    reply = payment_gateway.send(payment_gateway.capture(payment))
    assert reply.status_code == 200, reply
    assert reply.body["result"] == {
        "status": "completed",
        "cards_created": 3,
        "purchase_id": reply.body["result"]["purchase_id"],
    }
    assert service_db.purchases(payment.payment_id)[0]["pack_type"] == "gold"
    refund = payment_gateway.send(payment_gateway.refund(payment))
    assert (refund.status_code, refund.body["result"]["cards_revoked"]) == (200, 3), refund
    assert service_db.live_cards(payment.payment_id) == 0


def test_stripe_and_standard_events_share_no_dedupe_key_namespace(
    payment_gateway: GatewaySimulator, service_db: ServiceDb
) -> None:
    """The same event id on two gateways is two events; the payment id still dedupes."""
    shared_event = new_event_id("stripe")
    stripe_payment = Payment.new(payment_gateway.require("stripe"), USER_ID, PACK)
    standard_payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    assert_captured(
        payment_gateway.send(payment_gateway.capture(stripe_payment, event_id=shared_event)),
        stripe_payment.payment_id,
    )
    assert_captured(
        payment_gateway.send(payment_gateway.capture(standard_payment, event_id=shared_event)),
        standard_payment.payment_id,
    )
    assert service_db.live_cards(stripe_payment.payment_id) == PACK_SIZE
    assert service_db.live_cards(standard_payment.payment_id) == PACK_SIZE
