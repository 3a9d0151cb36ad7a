"""Steps shared by every area: payments, captures, refunds, purchases, the audit trail.

Steps only talk to fixtures (`payment_gateway`, `admin_client`); state passes between
steps through `target_fixture`.
"""

from __future__ import annotations

from pytest_bdd import given, parsers, then, when

from readiness_harness.gateways.clients import AdminClient, Reply
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator


@given(
    parsers.parse('a new {gateway} payment by user "{user_id}" for a "{pack_type}" pack'),
    target_fixture="payment",
)
def _(payment_gateway: GatewaySimulator, gateway: str, user_id: str, pack_type: str) -> Payment:
    return Payment.new(payment_gateway.require(gateway), user_id, pack_type)


@given(
    parsers.parse('a new payment by user "{user_id}" for a "{pack_type}" pack'),
    target_fixture="payment",
)
def _(payment_gateway: GatewaySimulator, user_id: str, pack_type: str) -> Payment:
    """A payment through the first gateway the target uses (for lines about any payment)."""
    return Payment.new(payment_gateway.require(payment_gateway.primary), user_id, pack_type)


def _captured(payment_gateway: GatewaySimulator, payment: Payment) -> Payment:
    reply = payment_gateway.send(payment_gateway.capture(payment))
    assert reply.status_code == 200 and reply.body.get("status") == "captured", (
        f"setting up: the capture of {payment.payment_id} answered {reply.status_code} {reply.body}"
        + payment_gateway.secret_hint(reply)
    )
    return payment


@given(
    parsers.parse('a {gateway} payment by user "{user_id}" for a "{pack_type}" pack has been captured'),
    target_fixture="payment",
)
def _(payment_gateway: GatewaySimulator, gateway: str, user_id: str, pack_type: str) -> Payment:
    return _captured(payment_gateway, Payment.new(payment_gateway.require(gateway), user_id, pack_type))


@given(
    parsers.parse('a payment by user "{user_id}" for a "{pack_type}" pack has been captured'),
    target_fixture="payment",
)
def _(payment_gateway: GatewaySimulator, user_id: str, pack_type: str) -> Payment:
    """Captured through the first gateway the target uses (for lines about any payment)."""
    gateway = payment_gateway.require(payment_gateway.primary)
    return _captured(payment_gateway, Payment.new(gateway, user_id, pack_type))


@when("the gateway reports the payment as captured", target_fixture="replies")
def _(payment_gateway: GatewaySimulator, payment: Payment) -> list[Reply]:
    return [payment_gateway.send(payment_gateway.capture(payment))]


@when("the gateway reports the payment as refunded", target_fixture="refund_replies")
def _(payment_gateway: GatewaySimulator, payment: Payment) -> list[Reply]:
    return [payment_gateway.send(payment_gateway.refund(payment))]


@then(parsers.parse("the service answers that the payment was captured with {cards:d} cards"))
def _(replies: list[Reply], payment: Payment, cards: int, payment_gateway: GatewaySimulator) -> None:
    reply = replies[-1]
    assert reply.status_code == 200, (
        f"capture answered {reply.status_code}: {reply.body}" + payment_gateway.secret_hint(reply)
    )
    assert reply.body.get("status") == "captured", reply.body
    assert reply.body.get("payment_id") == payment.payment_id, reply.body
    result = reply.body.get("result") or {}
    assert result.get("status") == "completed", reply.body
    assert result.get("cards_created") == cards, reply.body
    assert isinstance(result.get("purchase_id"), int), reply.body


@then(parsers.parse('the purchase holds exactly {cards:d} live cards for user "{user_id}"'))
def _(admin_client: AdminClient, payment: Payment, cards: int, user_id: str) -> None:
    reply = admin_client.purchase(payment.payment_id, payment.gateway)
    assert reply.status_code == 200, f"GET /purchases/{payment.payment_id}: {reply.status_code} {reply.body}"
    purchase = reply.body
    assert purchase["user_id"] == user_id, purchase
    assert purchase["status"] == "active", purchase
    live = [card for card in purchase["cards"] if not card["revoked"]]
    assert len(purchase["cards"]) == cards, f"{len(purchase['cards'])} cards: {purchase}"
    assert len(live) == cards, f"{len(live)} live cards: {purchase}"


@then(parsers.parse("the purchase is marked refunded with all {cards:d} cards revoked"))
def _(admin_client: AdminClient, payment: Payment, cards: int) -> None:
    purchase = admin_client.purchase(payment.payment_id, payment.gateway).body
    assert purchase.get("status") == "refunded", f"the purchase is not marked refunded: {purchase}"
    assert len(purchase["cards"]) == cards, f"expected {cards} cards: {purchase}"
    live = [card for card in purchase["cards"] if not card["revoked"]]
    assert not live, f"{len(live)} cards are still live after the refund: {purchase}"


@then("no purchase exists for the payment")
def _(admin_client: AdminClient, payment: Payment) -> None:
    reply = admin_client.purchase(payment.payment_id, payment.gateway)
    assert reply.status_code == 404, f"expected no purchase, got {reply.status_code} {reply.body}"


@then("the audit trail for the payment lists, oldest first:")
def _(admin_client: AdminClient, payment: Payment, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    expected = [dict(zip(header, row, strict=True)) for row in rows]
    entries = admin_client.audit(payment.payment_id)
    actual = [{column: str(entry.get(column)) for column in header} for entry in entries]
    assert actual == expected, f"the audit trail for {payment.payment_id} lists {actual}, expected {expected}"
    for entry in entries:
        assert entry["gateway"] == payment.gateway, entry
        assert entry["received_at"], entry
