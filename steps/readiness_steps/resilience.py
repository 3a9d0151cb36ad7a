"""Steps for the Resilience area: stop, restart and kill what the harness controls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from pytest_bdd import given, parsers, then, when

from readiness_harness.gateways.clients import AdminClient, Reply, WebhookClient
from readiness_harness.gateways.events import Delivery, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.stack import ControlledStack, controlled_stack


@dataclass
class Outage:
    """A controlled stack, the gateway and admin pointed at it, and what was sent."""

    stack: ControlledStack
    gateway: GatewaySimulator
    admin: AdminClient
    payments: list[Payment] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    def purchase(self, payment_id: str, within_s: float = 30) -> Reply:
        """GET /purchases/{id} once the service can answer (a 503 while it reconnects to a
        restarted database is no answer about the payment)."""
        deadline = time.monotonic() + within_s
        reply = self.admin.purchase(payment_id)
        while reply.status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.25)
            reply = self.admin.purchase(payment_id)
        return reply

    def new_captures(self, count: int) -> list[Delivery]:
        payments = [Payment.new("standard", str(300 + index), "black") for index in range(count)]
        self.payments += payments
        deliveries = [self.gateway.capture(payment) for payment in payments]
        self.deliveries += deliveries
        return deliveries


@pytest.fixture
def outage(readiness_settings: HarnessSettings) -> Iterator[Outage]:
    if not readiness_settings.embedded:
        pytest.skip("outages are induced on servers the harness starts; not on a deployed target")
    with controlled_stack(readiness_settings.secrets) as stack:
        client = WebhookClient(stack.service.url, timeout=10, verify=stack.target.verify)
        admin = AdminClient(stack.service.url, stack.secrets.admin_token, verify=stack.target.verify)
        try:
            yield Outage(stack, GatewaySimulator(stack.target, client), admin)
        finally:
            client.close()
            admin.close()


@given("a service on servers the harness controls", target_fixture="outage_under_test")
def _(outage: Outage) -> Outage:
    return outage


@given(parsers.parse("{count:d} payments have been captured"))
def _(outage: Outage, count: int) -> None:
    replies = [outage.gateway.send(delivery) for delivery in outage.new_captures(count)]
    assert all(reply.body.get("status") == "captured" for reply in replies), replies


@when("PostgreSQL stops")
def _(outage: Outage) -> None:
    outage.stack.postgres.stop()


@when("PostgreSQL is back")
def _(outage: Outage) -> None:
    outage.stack.postgres.start()


@when("Redis stops")
def _(outage: Outage) -> None:
    outage.stack.redis.stop()


@when("Redis is back")
def _(outage: Outage) -> None:
    outage.stack.redis.start()


@when(parsers.parse("the gateway delivers captures for {count:d} new payments"))
def _(outage: Outage, count: int) -> None:
    outage.replies = [outage.gateway.send(delivery) for delivery in outage.new_captures(count)]


@when(
    parsers.parse(
        "the gateway delivers captures for {count:d} new payments at once and the service is killed meanwhile"
    )
)
def _(outage: Outage, count: int) -> None:
    deliveries = outage.new_captures(count)
    killer = threading.Timer(0.05, outage.stack.service.kill)
    killer.start()
    try:
        replies = outage.gateway.send_concurrently(deliveries)
    finally:
        killer.join()
    cut = [reply for reply in replies if reply.status_code == 0]
    assert cut, "the kill came after every delivery was answered: nothing was in flight"
    assert outage.stack.service.process is not None
    assert outage.stack.service.process.poll() is not None, "the service survived SIGKILL"


@when("the service is restarted")
def _(outage: Outage) -> None:
    outage.stack.service.start()


@when("the gateway retries every delivery")
def _(outage: Outage) -> None:
    deadline = time.monotonic() + 30
    pending = list(outage.deliveries)
    while pending and time.monotonic() < deadline:
        replies = [outage.gateway.send(delivery) for delivery in pending]
        pending = [delivery for delivery, reply in zip(pending, replies, strict=True) if not reply.ok]
        if pending:
            time.sleep(0.5)  # a gateway backs off; the first retry after a restart may 503
    assert not pending, f"{len(pending)} deliveries still refused after 30 s of retries"


@then(parsers.parse("every one of those deliveries is refused with {status:d}"))
def _(outage: Outage, status: int) -> None:
    codes = [reply.status_code for reply in outage.replies]
    assert codes == [status] * len(codes), codes


@then("the service reports the database as down")
def _(outage: Outage) -> None:
    reply = outage.gateway.client.get("/status")
    assert (reply.status_code, reply.body.get("database")) == (503, "down"), reply.body


@then("the service reports redis as down")
def _(outage: Outage) -> None:
    reply = outage.gateway.client.get("/status")
    assert (reply.status_code, reply.body.get("redis")) == (503, "down"), reply.body
    assert reply.body.get("database") == "ok", reply.body


@then("the service reports every dependency as ok")
def _(outage: Outage) -> None:
    reply = outage.gateway.client.get("/status")
    assert reply.status_code == 200, reply.body


@then(parsers.parse("none of the {count:d} new payments has a purchase yet"))
def _(outage: Outage, count: int) -> None:
    newest = outage.payments[-count:]
    answers = {payment.payment_id: outage.purchase(payment.payment_id) for payment in newest}
    unanswered = [pid for pid, reply in answers.items() if reply.status_code not in (200, 404)]
    assert not unanswered, f"the service could not say whether these exist: {unanswered}"
    written = [pid for pid, reply in answers.items() if reply.status_code == 200]
    assert not written, f"deliveries refused during the outage were written: {written}"


@then(parsers.parse("every one of the {count:d} payments has exactly one pack of {cards:d} live cards"))
def _(outage: Outage, count: int, cards: int) -> None:
    assert len(outage.payments) == count
    for payment in outage.payments:
        purchase = outage.purchase(payment.payment_id).body
        live = [card for card in purchase.get("cards", []) if not card["revoked"]]
        assert len(live) == cards, f"{payment.payment_id}: {purchase}"
