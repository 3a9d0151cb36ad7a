"""Steps for the Security area: refusals, their audit entries, the admin token."""

from __future__ import annotations

import json

from pytest_bdd import parsers, then, when

from readiness_harness.gateways import clock
from readiness_harness.gateways.clients import AdminClient, Reply
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.gateways.tampering import audit_keys

ADMIN_PATHS = {"purchases": "/purchases/{payment_id}", "audit": "/audit?payment_id={payment_id}"}
CREDENTIALS = {"no token": None, "a wrong token": "not-the-admin-token"}


@when(parsers.parse("its capture arrives with {defect}"), target_fixture="replies")
def _(payment_gateway: GatewaySimulator, payment: Payment, defect: str) -> list[Reply]:
    return [payment_gateway.send(payment_gateway.defective_capture(payment, defect))]


@when(parsers.parse("its capture arrives signed {seconds:d} seconds {direction}"), target_fixture="replies")
def _(payment_gateway: GatewaySimulator, payment: Payment, seconds: int, direction: str) -> list[Reply]:
    """Signed at most `seconds` away from now (rounded towards now), so the delivery is
    inside the window by the margin the feature gives, whatever the clock's fraction."""
    if direction == "ago":
        timestamp = clock.at_most_seconds_old(seconds)
    elif direction == "in the future":
        timestamp = clock.at_most_seconds_ahead(seconds)
    else:
        raise ValueError(f"say 'ago' or 'in the future', not {direction!r}")
    delivery = payment_gateway.signed(
        payment.gateway, payment_gateway.events.capture(payment), timestamp=timestamp
    )
    return [payment_gateway.send(delivery)]


@when(parsers.parse('the gateway sends a "{event_type}" event for the payment'), target_fixture="replies")
def _(payment_gateway: GatewaySimulator, payment: Payment, event_type: str) -> list[Reply]:
    return [payment_gateway.send(payment_gateway.other(payment, event_type))]


@when(
    parsers.parse("the admin route {route} is called for the payment with {credential}"),
    target_fixture="replies",
)
def _(admin_client: AdminClient, payment: Payment, route: str, credential: str) -> list[Reply]:
    path = ADMIN_PATHS[route].format(payment_id=payment.payment_id)
    return [admin_client.get_with_token(path, CREDENTIALS[credential])]


@then(parsers.parse("the service refuses it with status {status:d}"))
def _(replies: list[Reply], status: int) -> None:
    reply = replies[-1]
    assert reply.status_code == status, f"expected {status}, got {reply.status_code}: {reply.body}"
    assert reply.body.get("detail"), f"a refusal says why: {reply.body}"


@then("the service acknowledges it as ignored")
def _(replies: list[Reply]) -> None:
    reply = replies[-1]
    assert (reply.status_code, reply.body.get("status")) == (200, "ignored"), reply.body


@then("the refusal is in the audit trail without any secret or signature")
def _(
    replies: list[Reply], payment: Payment, admin_client: AdminClient, payment_gateway: GatewaySimulator
) -> None:
    delivery = replies[-1].delivery
    assert delivery is not None
    entries = [
        entry for entry in admin_client.audit(payment_id=payment.payment_id) if entry["outcome"] == "rejected"
    ]
    for key in audit_keys(delivery):
        if entries:
            break
        entries = [entry for entry in admin_client.audit(event_id=key) if entry["outcome"] == "rejected"]
    assert entries, f"no 'rejected' audit entry for payment {payment.payment_id}"
    recorded = json.dumps(entries)
    leaked = [value[:6] + "..." for value in payment_gateway.sensitive_values(delivery) if value in recorded]
    assert not leaked, f"the audit trail holds secret or signature material: {leaked}"


@then("nothing was delivered for the payment")
def _(admin_client: AdminClient, payment: Payment) -> None:
    reply = admin_client.purchase(payment.payment_id, payment.gateway)
    assert reply.status_code == 404, f"a refused delivery created {reply.body}"


@then("the service is still healthy")
def _(payment_gateway: GatewaySimulator) -> None:
    for path in ("/health", "/status"):
        reply = payment_gateway.client.get(path)
        assert reply.status_code == 200, f"{path} answered {reply.status_code}: {reply.body}"


@then("the genuine capture still delivers the pack afterwards")
def _(payment_gateway: GatewaySimulator, payment: Payment) -> None:
    reply = payment_gateway.send(payment_gateway.capture(payment))
    assert reply.body.get("status") == "captured", (
        f"the refusal left a record that blocks the real capture: {reply.status_code} {reply.body}"
    )


@then("the answer reveals nothing about the payment")
def _(replies: list[Reply], payment: Payment) -> None:
    assert payment.payment_id not in json.dumps(replies[-1].body)
