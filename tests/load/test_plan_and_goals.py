"""The plan's mix and shares, pre-signing, the ledger's merge, and the burst goals'
arithmetic (which decides when a line has already failed)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from readiness_harness.gateways.events import Delivery, Payment
from readiness_harness.load.burst import Burst, LatencyGoal, SuccessGoal, Timed, percentile
from readiness_harness.load.ledger import Ledger
from readiness_harness.load.plan import STALE_AFTER_SECONDS, LoadPlan, PlanError, schedule
from readiness_harness.load.presign import presign
from readiness_harness.settings.secrets import load_secrets

URL = "http://127.0.0.1:1"


def test_the_schedule_captures_first_then_repeats_and_refunds_each_payment_at_most_once() -> None:
    plan = LoadPlan(URL, ("standard",), duplicate_share=0.2, refund_share=0.2)
    actions = schedule(plan, 5000, random.Random(7))  # noqa: S311 - a reproducible mix, not a secret
    kinds = Counter(action.kind for action in actions)
    assert 0.15 < kinds["duplicate"] / 5000 < 0.25 and 0.15 < kinds["refund"] / 5000 < 0.25
    captured: set[int] = set()
    refunded: set[int] = set()
    for action in actions:
        if action.kind == "capture":
            assert action.payment == len(captured), "captures number new payments in order"
            captured.add(action.payment)
        else:
            assert action.payment in captured, f"a {action.kind} before its payment's capture"
        if action.kind == "refund":
            assert action.payment not in refunded
            refunded.add(action.payment)


def test_each_process_signs_its_share_for_its_most_loaded_share_of_users() -> None:
    plan = LoadPlan(URL, ("stripe",), users=5, rate=50, run_seconds=10, processes=2)
    assert plan.users_per_process == 3
    assert plan.process_rate == 30
    assert plan.process_share() == 30 * 10 * 1.2 + 3
    assert LoadPlan(URL, ("stripe",), rate=0, requests=101, processes=2).process_share() == 51


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate": 0}, "needs --requests"),
        ({"rate": 0, "requests": 5, "run_seconds": 600}, "at most 240s"),
        ({"gateways": ()}, "no gateway"),
        ({"users": 0}, "--users"),
        ({"duplicate_share": 0.6, "refund_share": 0.5}, "sum is below 1"),
    ],
)
def test_a_plan_that_cannot_run_says_what_to_change(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        LoadPlan(**{"target_url": URL, "gateways": ("stripe",), **changes})  # type: ignore[arg-type]


def test_presigned_deliveries_are_signed_for_their_scheduled_moment_and_stale_ones_are_dropped() -> None:
    plan = LoadPlan(URL, ("stripe", "standard"), users=2, rate=1, run_seconds=200)
    pool = presign(plan, load_secrets({}), start=1_000_000.0)
    assert pool.size == plan.process_share()
    first = pool.take(now=1_000_000.0)
    assert first is not None and first.signed_at == 1_000_000
    assert (
        first.headers.get("Stripe-Signature", "").startswith("t=1000000,")
        or first.headers.get("webhook-timestamp") == "1000000"
    )
    late = pool.take(now=1_000_000.0 + STALE_AFTER_SECONDS + 60)
    assert late is not None and late.signed_at >= 1_000_060 and pool.stale > 0, "stale ones are never sent"


def test_merged_ledgers_keep_every_status() -> None:
    payment = Payment.new("standard", "1", "black")
    one, two = Ledger(processes=1), Ledger(processes=1)
    one.record(payment, "capture", 200)
    two.record(payment, "duplicate", 500)
    two.record(payment, "refund", 0)
    one.merge(two)
    assert one.processes == 2 and one.deliveries == 3
    assert one.statuses() == Counter({200: 1, 500: 1, 0: 1})
    assert Ledger.from_json(one.to_json()).records[payment.payment_id].refunds == [0]


def _burst(planned: int, answers: list[tuple[int, float]]) -> Burst:
    delivery = Delivery("standard", "/webhooks/payments", b"{}")
    return Burst(planned, 4, [Timed(status, seconds, delivery) for status, seconds in answers])


def test_the_latency_goal_counts_failures_as_never_processed_and_decides_early() -> None:
    goal = LatencyGoal(99, 5)
    assert goal.allowed(200) == 2
    assert goal.missed(_burst(200, [(200, 6.0), (200, 7.0)])) is None
    assert "3 deliveries took 5s or more or failed" in str(
        goal.missed(_burst(200, [(200, 6.0)] * 2 + [(500, 0.1)]))
    )
    met, _ = goal.verdict(_burst(200, [(200, 0.1)] * 198 + [(200, 9.0)] * 2))
    assert met
    met, shown = goal.verdict(_burst(200, [(200, 0.1)] * 100))
    assert not met and "200 planned" in shown, "a burst stopped early never meets its goal"


def test_the_success_goal_is_strict_about_over_and_under() -> None:
    goal = SuccessGoal(99, 0.1)
    assert goal.allowed_failures(400) == 3, "4 of 400 failing is exactly 99%, not over it"
    assert goal.allowed_server_errors(400) == 0 and goal.allowed_server_errors(2000) == 1
    assert goal.missed(_burst(400, [(422, 0.1)] * 3)) is None
    assert "answered 5xx" in str(goal.missed(_burst(400, [(503, 0.1)])))
    assert goal.verdict(_burst(400, [(200, 0.1)] * 397 + [(422, 0.1)] * 3))[0]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 99) == 99
