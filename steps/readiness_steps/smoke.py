"""Steps for the Smoke area that the other areas do not already say."""

from __future__ import annotations

from pytest_bdd import then, when

from readiness_harness.gateways.clients import Reply
from readiness_harness.gateways.events import Payment, new_event_id
from readiness_harness.gateways.simulator import GatewaySimulator


@when("a second, different capture event arrives for the same payment", target_fixture="replies")
def _(payment_gateway: GatewaySimulator, payment: Payment) -> list[Reply]:
    second = payment_gateway.capture(payment, event_id=new_event_id(payment.gateway))
    return [payment_gateway.send(second)]


@then("the service answers that the payment is a duplicate")
def _(replies: list[Reply], payment: Payment) -> None:
    reply = replies[-1]
    assert reply.status_code == 200, f"answered {reply.status_code}: {reply.body}"
    assert reply.body.get("status") == "duplicate", reply.body
    assert reply.body.get("payment_id") == payment.payment_id, reply.body


@when("an unsigned capture event arrives for the payment", target_fixture="replies")
def _(payment_gateway: GatewaySimulator, payment: Payment) -> list[Reply]:
    return [payment_gateway.send(payment_gateway.unsigned_capture(payment))]


@then("the service refuses it as unauthorized")
def _(replies: list[Reply]) -> None:
    reply = replies[-1]
    assert reply.status_code == 401, f"an unsigned event answered {reply.status_code}: {reply.body}"
