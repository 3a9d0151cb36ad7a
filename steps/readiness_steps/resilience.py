"""Steps for the Resilience area: the target's parts stopped, killed and started again.

The parts are stopped through the `outages` fixture: the embedded default's own servers,
or a deployment's outage hooks given with --allow-disruption (not measured otherwise).
Every part stopped is started again when the scenario ends, whatever its outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from pytest_bdd import given, parsers, then, when

from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.gateways.clients import AdminClient, Reply, WebhookClient
from readiness_harness.gateways.events import Delivery, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.outages import Outages
from readiness_harness.target.target import Target

RECOVERY_TIMEOUT_S = 60.0
RETRY_WINDOW_S = 60.0


@dataclass
class Outage:
    """The target's outage control, the gateway and admin clients, and what was sent."""

    outages: Outages
    gateway: GatewaySimulator
    admin: AdminClient
    target: Target
    payments: list[Payment] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    answered_before_kill: list[Delivery] = field(default_factory=list)
    cut_by_kill: list[Delivery] = field(default_factory=list)
    retry_replies: dict[str, Reply] = field(default_factory=dict)

    def purchase(self, payment: Payment, within_s: float = 30) -> Reply:
        """GET /purchases/{id} once the service can answer (a 503 while it reconnects to a
        restarted database is no answer about the payment)."""
        deadline = time.monotonic() + within_s
        reply = self.admin.purchase(payment.payment_id, payment.gateway)
        while reply.status_code in (0, 503) and time.monotonic() < deadline:
            time.sleep(0.25)
            reply = self.admin.purchase(payment.payment_id, payment.gateway)
        return reply

    def new_captures(self, count: int) -> list[Delivery]:
        gateway = self.gateway.require(self.gateway.primary)
        payments = [Payment.new(gateway, str(300 + index), "black") for index in range(count)]
        self.payments += payments
        deliveries = [self.gateway.capture(payment) for payment in payments]
        self.deliveries += deliveries
        return deliveries

    def wait_until_healthy(self, timeout: float = RECOVERY_TIMEOUT_S) -> Reply:
        deadline = time.monotonic() + timeout
        reply = Reply(0, {})
        while time.monotonic() < deadline:
            try:
                reply = self.gateway.client.get("/status")
            except httpx.HTTPError as exc:
                reply = Reply(0, {"error": type(exc).__name__})
            if reply.status_code == 200:
                return reply
            time.sleep(0.25)
        raise AssertionError(
            f"the target did not report every dependency up within {timeout:.0f}s after the "
            f"outage: {reply.body}"
        )


@given(parsers.parse("the target's {part} can be stopped and started"), target_fixture="outage")
def _(
    outages: Outages,
    payment_gateway: GatewaySimulator,
    admin_client: AdminClient,
    readiness_target: Target,
    part: str,
) -> Outage:
    if part not in outages.parts:
        not_measured(
            f"nothing stops and starts the target's {part} in this run"
            + (
                " (the embedded service runs on given servers, which the harness never stops)"
                if readiness_target.embedded
                else ""
            ),
            option=f"--outage-hooks with a {part} entry",
        )
    payment_gateway.require(payment_gateway.primary)
    return Outage(outages, payment_gateway, admin_client, readiness_target)


@given(parsers.parse("{count:d} payments have been captured"))
def _(outage: Outage, count: int) -> None:
    replies = [outage.gateway.send(delivery) for delivery in outage.new_captures(count)]
    refused = [reply for reply in replies if reply.body.get("status") != "captured"]
    assert not refused, f"setting up: {len(refused)} captures were not accepted: {refused[:2]}"


@when(parsers.parse("the target's {part} stops"))
def _(outage: Outage, part: str) -> None:
    outage.outages.stop(part)


@when(parsers.parse("the target's {part} is back"))
def _(outage: Outage, part: str) -> None:
    outage.outages.start(part)
    if part == "service":
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if outage.gateway.client.get("/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(
            f"the service did not answer /health within {RECOVERY_TIMEOUT_S:.0f}s of its restart"
        )


@when(parsers.parse("the gateway delivers captures for {count:d} new payments at once"))
def _(outage: Outage, count: int) -> None:
    outage.replies = outage.gateway.send_concurrently(outage.new_captures(count))


STREAM_LIMIT = 5000
"""At most this many deliveries in one stream (a bound, never reached unless the kill hook
does not kill)."""
CUT_TO_STOP = 8
"""The stream stops once this many deliveries after the kill went unanswered."""


@dataclass
class _Stream:
    """Paced deliveries of fresh captures until the kill has cut some of them."""

    outage: Outage
    in_flight: int
    per_second: float
    kill_after: int
    replies: list[Reply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    killed: threading.Event = field(default_factory=threading.Event)
    kill_requested: bool = False
    kill_error: BaseException | None = None
    answered: int = 0
    cut_after_kill: int = 0
    sent: int = 0
    started: float = field(default_factory=time.monotonic)

    def _next(self) -> Delivery | None:
        with self.lock:
            if self.sent >= STREAM_LIMIT or self.cut_after_kill >= CUT_TO_STOP or self.kill_error is not None:
                return None
            slot = self.started + self.sent / self.per_second
            self.sent += 1
            delivery = self.outage.new_captures(1)[0]
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return delivery

    def _kill(self) -> None:
        try:
            self.outage.outages.stop("service")
        except BaseException as exc:  # reported by the step, after the stream stops
            self.kill_error = exc
        finally:
            self.killed.set()

    def worker(self) -> None:
        with WebhookClient(self.outage.target.url, timeout=10, verify=self.outage.target.verify) as client:
            while (delivery := self._next()) is not None:
                try:
                    reply = client.send(delivery)
                except httpx.HTTPError as exc:
                    reply = Reply(0, {"error": f"{type(exc).__name__}: {exc}"}, delivery)
                kill = False
                with self.lock:
                    self.replies.append(reply)
                    if reply.ok:
                        self.answered += 1
                        kill = self.answered >= self.kill_after and not self.kill_requested
                        self.kill_requested = self.kill_requested or kill
                    elif self.killed.is_set():
                        self.cut_after_kill += 1
                if kill:
                    threading.Thread(target=self._kill, name="outage-kill", daemon=True).start()

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=self.in_flight) as pool:
            for future in [pool.submit(self.worker) for _ in range(self.in_flight)]:
                future.result()
        self.killed.wait(timeout=RECOVERY_TIMEOUT_S)
        if self.kill_error is not None:
            raise self.kill_error


@when(
    parsers.parse(
        "the gateway streams captures for new payments, {in_flight:d} at a time and {per_second:d} a second, "
        "and the service is killed once {answered:d} have been answered"
    )
)
def _(outage: Outage, in_flight: int, per_second: int, answered: int) -> None:
    stream = _Stream(outage, in_flight, float(per_second), answered)
    stream.run()
    outage.replies = stream.replies
    outage.answered_before_kill = [r.delivery for r in stream.replies if r.ok and r.delivery is not None]
    outage.cut_by_kill = [r.delivery for r in stream.replies if not r.ok and r.delivery is not None]


@then("some deliveries were answered before the kill and others were cut off by it")
def _(outage: Outage, record_evidence: Callable[[str, Any], None]) -> None:
    record_evidence(
        "crash",
        {"answered_before_kill": len(outage.answered_before_kill), "cut_by_kill": len(outage.cut_by_kill)},
    )
    assert outage.answered_before_kill, "no delivery was answered before the kill: the crash proved nothing"
    assert outage.cut_by_kill, (
        "every delivery was answered before the kill: nothing was in flight when it died"
    )
    unexpected = [r for r in outage.replies if r.status_code not in (0, 200)]
    assert not unexpected, f"deliveries answered with errors other than the kill: {unexpected[:3]}"


@when("the gateway retries every delivery")
def _(outage: Outage) -> None:
    deadline = time.monotonic() + RETRY_WINDOW_S
    pending = list(outage.deliveries)
    while pending and time.monotonic() < deadline:
        replies = [outage.gateway.send(delivery) for delivery in pending]
        for delivery, reply in zip(pending, replies, strict=True):
            if reply.ok:
                outage.retry_replies[delivery.event_id] = reply
        pending = [delivery for delivery, reply in zip(pending, replies, strict=True) if not reply.ok]
        if pending:
            time.sleep(0.5)  # a gateway backs off; the first retry after a restart may 503
    assert not pending, f"{len(pending)} deliveries still refused after {RETRY_WINDOW_S:.0f} s of retries"


@then(parsers.parse("every one of those deliveries is refused with {status:d}"))
def _(outage: Outage, status: int) -> None:
    codes = [reply.status_code for reply in outage.replies]
    assert codes == [status] * len(codes), f"deliveries during the outage answered {codes}, expected {status}"


def _status_part(reply: Reply, part: str) -> Any:
    return reply.body.get(part)


@then("the service reports the database as down")
def _(outage: Outage) -> None:
    reply = outage.gateway.client.get("/status")
    assert reply.status_code == 503, (
        f"/status answered {reply.status_code} while the database was down: {reply.body}"
    )
    assert _status_part(reply, "database") in (None, "down", "error", False), reply.body


@then("the service reports redis as down")
def _(outage: Outage) -> None:
    reply = outage.gateway.client.get("/status")
    assert reply.status_code == 503, (
        f"/status answered {reply.status_code} while Redis was down: {reply.body}"
    )
    assert _status_part(reply, "redis") in (None, "down", "error", False), reply.body


@then("the service reports every dependency as ok")
def _(outage: Outage) -> None:
    outage.wait_until_healthy()


@then(parsers.parse("none of the {count:d} new payments has a purchase yet"))
def _(outage: Outage, count: int) -> None:
    newest = outage.payments[-count:]
    answers = {payment.payment_id: outage.purchase(payment) for payment in newest}
    unanswered = [pid for pid, reply in answers.items() if reply.status_code not in (200, 404)]
    assert not unanswered, f"the service could not say whether these exist: {unanswered}"
    written = [pid for pid, reply in answers.items() if reply.status_code == 200]
    assert not written, f"deliveries refused during the outage were written: {written}"


@then(parsers.parse("every one of the {count:d} payments has exactly one pack of {cards:d} live cards"))
def _(outage: Outage, count: int, cards: int) -> None:
    assert len(outage.payments) == count
    _one_pack_each(outage, cards)


@then(parsers.parse("every one of those payments has exactly one pack of {cards:d} live cards"))
def _(outage: Outage, cards: int, record_evidence: Callable[[str, Any], None]) -> None:
    record_evidence("payments", len(outage.payments))
    _one_pack_each(outage, cards)


def _one_pack_each(outage: Outage, cards: int) -> None:
    count = len(outage.payments)
    wrong = []
    for payment in outage.payments:
        purchase = outage.purchase(payment).body
        live = [card for card in purchase.get("cards", []) if not card["revoked"]]
        if len(live) != cards:
            wrong.append(f"{payment.payment_id}: {len(live)} live cards")
    assert not wrong, f"{len(wrong)} of {count} payments lack exactly one pack: {wrong[:5]}"


@then("every delivery answered before the kill was acknowledged as a duplicate on retry")
def _(outage: Outage) -> None:
    not_duplicates = [
        delivery.event_id
        for delivery in outage.answered_before_kill
        if outage.retry_replies.get(delivery.event_id, Reply(0, {})).body.get("status") != "duplicate"
    ]
    assert not not_duplicates, (
        f"{len(not_duplicates)} deliveries answered before the kill were not duplicates on retry: "
        "the answered "
        f"captures were not durable ({not_duplicates[:3]})"
    )
