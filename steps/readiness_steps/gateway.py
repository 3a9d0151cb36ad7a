"""Steps for the Gateway area: retries, concurrency, refunds, forged events."""

from __future__ import annotations

from pytest_bdd import parsers, then, when

from readiness_harness.gateways.clients import AdminClient, Reply
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator


@when(
    parsers.parse("the gateway delivers the same capture event {times:d} more times one after another"),
    target_fixture="replies",
)
def _(payment_gateway: GatewaySimulator, payment: Payment, times: int) -> list[Reply]:
    return [payment_gateway.send(payment_gateway.capture(payment)) for _ in range(times)]


@when(
    parsers.parse("the gateway delivers the same capture event {times:d} times at once"),
    target_fixture="replies",
)
def _(payment_gateway: GatewaySimulator, payment: Payment, times: int) -> list[Reply]:
    return payment_gateway.send_concurrently([payment_gateway.capture(payment)] * times)


@when(
    "a forged capture event without a valid signature arrives for the payment", target_fixture="forged_reply"
)
def _(payment_gateway: GatewaySimulator, payment: Payment) -> Reply:
    reply = payment_gateway.send(payment_gateway.forged_capture(payment))
    assert reply.status_code == 401, f"a forged capture answered {reply.status_code}: {reply.body}"
    return reply


@then("every delivery is acknowledged")
def _(replies: list[Reply]) -> None:
    failed = [reply for reply in replies if not reply.ok]
    assert not failed, f"{len(failed)} of {len(replies)} deliveries were not 2xx: {failed[:3]}"


@then("every delivery is acknowledged as a duplicate")
def _(replies: list[Reply]) -> None:
    statuses = [(reply.status_code, reply.body.get("status")) for reply in replies]
    assert statuses == [(200, "duplicate")] * len(replies), statuses


@then("exactly one delivery created the pack")
def _(replies: list[Reply]) -> None:
    created = [reply for reply in replies if reply.body.get("status") == "captured"]
    duplicates = [reply for reply in replies if reply.body.get("status") == "duplicate"]
    assert len(created) == 1, f"{len(created)} deliveries created a pack"
    assert len(duplicates) == len(replies) - 1, [reply.body for reply in replies]


@then(parsers.parse("the service answers that {cards:d} cards were revoked"))
def _(refund_replies: list[Reply], payment: Payment, cards: int) -> None:
    reply = refund_replies[-1]
    assert reply.status_code == 200, f"refund answered {reply.status_code}: {reply.body}"
    assert reply.body.get("status") == "refunded", reply.body
    assert reply.body.get("payment_id") == payment.payment_id, reply.body
    assert (reply.body.get("result") or {}).get("cards_revoked") == cards, reply.body


@then("the refund is acknowledged")
def _(refund_replies: list[Reply], payment_gateway: GatewaySimulator) -> None:
    reply = refund_replies[-1]
    assert reply.ok, (
        f"the refund answered {reply.status_code}: {reply.body}; a refund that arrives before its capture "
        "must be kept (acknowledged), or the late capture delivers live cards"
        + payment_gateway.secret_hint(reply)
    )


@then("the purchase is marked refunded with no live cards")
def _(admin_client: AdminClient, payment: Payment) -> None:
    reply = admin_client.purchase(payment.payment_id, payment.gateway)
    assert reply.status_code == 200, f"GET /purchases/{payment.payment_id}: {reply.status_code} {reply.body}"
    purchase = reply.body
    assert purchase.get("status") == "refunded", (
        f"the refund came before the capture, but the purchase reads {purchase.get('status')!r}: {purchase}"
    )
    live = [card for card in purchase.get("cards", []) if not card["revoked"]]
    assert not live, f"the late capture delivered {len(live)} live cards after the refund: {purchase}"
