"""Steps for the processing-latency and success-rate lines: bursts of signed captures of
new payments at a given number in flight, judged against goals stated in the feature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_bdd import given, parsers, then, when

from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.load.burst import Burst, BurstSender, Goal, LatencyGoal, SuccessGoal
from readiness_harness.load.exactly_once import check_exactly_once
from readiness_harness.load.ledger import Ledger
from readiness_harness.target.target import Target


@dataclass(frozen=True)
class SentCaptures:
    burst: Burst
    payments: dict[str, Payment]
    """Capture event id -> its payment."""


@given(
    parsers.parse("the latency goal: {share:g}% of payments processed in under {seconds:g} seconds"),
    target_fixture="goal",
)
def _(share: float, seconds: float) -> Goal:
    return LatencyGoal(share, seconds)


@given(
    parsers.parse(
        "the success goal: over {success:g}% of webhooks processed successfully "
        "and under {errors:g}% answered with a server error"
    ),
    target_fixture="goal",
)
def _(success: float, errors: float) -> Goal:
    return SuccessGoal(success, errors)


@when(
    parsers.parse("{count:d} signed captures of new {gateway} payments are sent, {in_flight:d} in flight"),
    target_fixture="sent",
)
def _(
    payment_gateway: GatewaySimulator,
    burst_sender: BurstSender,
    goal: Goal,
    gateway: str,
    count: int,
    in_flight: int,
) -> SentCaptures:
    name = payment_gateway.require(gateway)
    payments = [Payment.new(name, "7", "black") for _ in range(count)]
    deliveries = [payment_gateway.capture(payment) for payment in payments]  # signed before the clock
    burst = burst_sender.send(deliveries, in_flight, goal)
    return SentCaptures(burst, {payment.capture_event_id: payment for payment in payments})


@then("the burst meets the goal")
def _(sent: SentCaptures, goal: Goal, record_evidence: Callable[[str, Any], None]) -> None:
    met, shown = goal.verdict(sent.burst)
    record_evidence("burst", {**sent.burst.figures(), "goal": shown})
    stopped = f"; stopped early: {sent.burst.stopped}" if sent.burst.stopped else ""
    assert met, f"the goal was missed: {shown}{stopped}"


@then(parsers.parse("every payment of the burst holds exactly one pack of {cards:d} cards"))
def _(
    sent: SentCaptures, readiness_target: Target, cards: int, record_evidence: Callable[[str, Any], None]
) -> None:
    readiness_target.require("admin")
    ledger = Ledger(processes=1)
    for answer in sent.burst.answers:
        ledger.record(sent.payments[answer.delivery.event_id], "capture", answer.status)
    held = check_exactly_once(
        ledger, readiness_target.url, readiness_target.secrets, readiness_target.verify, pack_size=cards
    )
    record_evidence("exactly_once", held.to_json())
    assert held.held, f"exactly-once {held.summary()}: " + "; ".join(v.line() for v in held.violations[:5])
