"""Exactly-once delivery under real concurrency, checked in PostgreSQL itself.

These are the issue's acceptance criteria: concurrent copies of one event, concurrent
distinct events for one payment, a refund before its capture, and refund/capture races.
"""

from __future__ import annotations

from collections import Counter

import pytest
from service_kit import PACK, PACK_SIZE, USER_ID, ServiceDb

from readiness_harness.gateways.clients import AdminClient, Reply
from readiness_harness.gateways.events import GatewayName, Payment, new_event_id
from readiness_harness.gateways.simulator import GatewaySimulator


def statuses(replies: list[Reply]) -> Counter[tuple[int, str]]:
    return Counter((reply.status_code, str(reply.body.get("status"))) for reply in replies)


def assert_all_acknowledged(replies: list[Reply]) -> None:
    failed = [reply for reply in replies if not reply.ok]
    assert not failed, f"{len(failed)} of {len(replies)} deliveries were not 2xx: {failed[:3]}"


@pytest.mark.slow
def test_200_concurrent_copies_of_one_capture_deliver_one_pack(
    payment_gateway: GatewaySimulator, service_db: ServiceDb, admin_client: AdminClient
) -> None:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    replies = payment_gateway.send_concurrently([payment_gateway.capture(payment)] * 200)

    assert_all_acknowledged(replies)
    assert statuses(replies) == Counter({(200, "captured"): 1, (200, "duplicate"): 199})
    purchases = service_db.purchases(payment.payment_id)
    assert len(purchases) == 1, purchases
    cards = service_db.cards(payment.payment_id)
    assert len(cards) == PACK_SIZE and not any(card["revoked"] for card in cards), cards
    assert len(service_db.processed_events(payment.payment_id)) == 1
    outcomes = Counter(entry["outcome"] for entry in admin_client.audit(payment.payment_id))
    assert outcomes == Counter({"accepted": 1, "duplicate": 199})


@pytest.mark.slow
@pytest.mark.parametrize("gateway", ["standard", "stripe"])
def test_60_concurrent_distinct_capture_events_for_one_payment_deliver_one_pack(
    payment_gateway: GatewaySimulator, service_db: ServiceDb, gateway: GatewayName
) -> None:
    payment = Payment.new(payment_gateway.require(gateway), USER_ID, PACK)
    deliveries = [payment_gateway.capture(payment, event_id=new_event_id(gateway)) for _ in range(60)]
    assert len({delivery.event_id for delivery in deliveries}) == 60
    replies = payment_gateway.send_concurrently(deliveries)

    assert_all_acknowledged(replies)
    assert statuses(replies) == Counter({(200, "captured"): 1, (200, "duplicate"): 59})
    purchases = service_db.purchases(payment.payment_id)
    assert len(purchases) == 1, purchases
    assert purchases[0]["status"] == "active"
    assert len(service_db.cards(payment.payment_id)) == PACK_SIZE
    assert service_db.live_cards(payment.payment_id) == PACK_SIZE
    assert len(service_db.processed_events(payment.payment_id)) == 60


def test_a_refund_before_its_capture_leaves_no_live_cards(
    payment_gateway: GatewaySimulator, service_db: ServiceDb, admin_client: AdminClient
) -> None:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    refund = payment_gateway.send(payment_gateway.refund(payment))
    assert refund.status_code == 200, refund
    assert refund.body["status"] == "refunded"
    assert refund.body["result"]["cards_revoked"] == 0
    early = admin_client.purchase(payment.payment_id)
    assert early.status_code == 200, early
    assert early.body == {
        "purchase_id": refund.body["result"]["purchase_id"],
        "payment_id": payment.payment_id,
        "gateway": "standard",
        "user_id": None,
        "pack_type": None,
        "status": "refunded",
        "cards": [],
    }

    capture = payment_gateway.send(payment_gateway.capture(payment))
    assert capture.status_code == 200, capture
    assert capture.body["result"]["cards_created"] == 0, capture.body
    assert capture.body["result"]["status"] == "refunded", capture.body

    again = payment_gateway.send(payment_gateway.capture(payment, event_id=new_event_id("standard")))
    assert (again.status_code, again.body["status"]) == (200, "duplicate"), again

    purchases = service_db.purchases(payment.payment_id)
    assert len(purchases) == 1
    assert purchases[0]["status"] == "refunded"
    assert purchases[0]["user_id"] == USER_ID and purchases[0]["pack_type"] == PACK
    assert service_db.live_cards(payment.payment_id) == 0
    purchase = admin_client.purchase(payment.payment_id).body
    assert purchase["status"] == "refunded"
    assert not [card for card in purchase["cards"] if not card["revoked"]], purchase


@pytest.mark.slow
@pytest.mark.parametrize("gateway", ["standard", "stripe"])
def test_racing_refunds_and_captures_leave_no_live_cards(
    payment_gateway: GatewaySimulator, service_db: ServiceDb, gateway: GatewayName
) -> None:
    for _ in range(2):
        payments = [Payment.new(payment_gateway.require(gateway), USER_ID, PACK) for _ in range(20)]
        deliveries = []
        for payment in payments:
            deliveries += [payment_gateway.capture(payment), payment_gateway.refund(payment)]
        replies = payment_gateway.send_concurrently(deliveries)

        assert_all_acknowledged(replies)
        for payment in payments:
            purchases = service_db.purchases(payment.payment_id)
            assert len(purchases) == 1, (payment.payment_id, purchases)
            assert purchases[0]["status"] == "refunded", (payment.payment_id, purchases)
            assert service_db.live_cards(payment.payment_id) == 0, (
                payment.payment_id,
                service_db.cards(payment.payment_id),
            )
            assert len(service_db.cards(payment.payment_id)) in (0, PACK_SIZE)


@pytest.mark.slow
def test_racing_duplicated_refunds_and_captures_leave_no_live_cards(
    payment_gateway: GatewaySimulator, service_db: ServiceDb
) -> None:
    """Each payment: its capture three times and its refund three times, all at once."""
    payments = [Payment.new(payment_gateway.require("standard"), USER_ID, PACK) for _ in range(15)]
    deliveries = []
    for payment in payments:
        deliveries += [payment_gateway.capture(payment), payment_gateway.refund(payment)] * 3
    replies = payment_gateway.send_concurrently(deliveries)

    assert_all_acknowledged(replies)
    assert sum(1 for reply in replies if reply.body.get("status") == "captured") == len(payments)
    assert sum(1 for reply in replies if reply.body.get("status") == "refunded") == len(payments)
    for payment in payments:
        assert [row["status"] for row in service_db.purchases(payment.payment_id)] == ["refunded"]
        assert service_db.live_cards(payment.payment_id) == 0
