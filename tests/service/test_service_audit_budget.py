"""Unverified deliveries are audited at a bounded rate; verified ones always in full.

A service with a small budget (AUDIT_UNVERIFIED_PER_INTERVAL) on the session's servers
gets a flood of forged deliveries: at most the budget is itemised, the rest end up in one
aggregated row per interval with their count, the metrics count every refusal, and a
genuine delivery in the middle of the flood is processed and audited as usual.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from service_kit import PACK, USER_ID, ServiceDb, assert_captured, environment_on, metric_value

from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.stack import SubprocessService
from readiness_harness.target.target import Target

BUDGET = 5
FLOOD = 120


def _service(readiness_target: Target, **settings: str) -> SubprocessService:
    return SubprocessService(environment_on(readiness_target, **settings))


def _rows_since(service_db: ServiceDb, audit_id: int, gateway: str) -> list[dict[str, object]]:
    return service_db.query(
        "SELECT event_id, payment_id, outcome, detail FROM audit_log WHERE audit_id > %s AND gateway = %s"
        " ORDER BY audit_id",
        audit_id,
        gateway,
    )


def _last_audit_id(service_db: ServiceDb) -> int:
    return int(service_db.query("SELECT coalesce(max(audit_id), 0) AS id FROM audit_log")[0]["id"])


@pytest.fixture
def budgeted(readiness_target: Target) -> Iterator[tuple[SubprocessService, GatewaySimulator]]:
    service = _service(
        readiness_target, AUDIT_UNVERIFIED_PER_INTERVAL=str(BUDGET), AUDIT_UNVERIFIED_INTERVAL_S="300"
    )
    service.start()
    client = WebhookClient(service.url)
    try:
        yield service, GatewaySimulator(readiness_target, client)
    finally:
        client.close()
        service.cleanup()


def test_a_flood_of_forged_deliveries_adds_at_most_the_budget_and_one_aggregate(
    budgeted: tuple[SubprocessService, GatewaySimulator], service_db: ServiceDb
) -> None:
    service, gateway = budgeted
    start = _last_audit_id(service_db)
    _, metrics_before = gateway.client.get_text("/metrics")
    forged = [gateway.forged_capture(Payment.new("standard", USER_ID, PACK)) for _ in range(FLOOD)]
    genuine = Payment.new(gateway.require("standard"), USER_ID, PACK)

    with ThreadPoolExecutor(max_workers=8) as pool:
        flood = [pool.submit(gateway.send, delivery) for delivery in forged]
        time.sleep(0.05)
        captured = gateway.send(gateway.capture(genuine))  # in the middle of the flood
        statuses = [future.result().status_code for future in flood]

    assert statuses == [401] * FLOOD
    assert_captured(captured, genuine.payment_id)
    rows = _rows_since(service_db, start, "standard")
    itemised = [row for row in rows if row["outcome"] == "rejected"]
    assert len(itemised) == BUDGET, f"{len(itemised)} rows for {FLOOD} forged deliveries"
    assert [row["outcome"] for row in rows if row["payment_id"] == genuine.payment_id] == ["accepted"]

    _, metrics_after = gateway.client.get_text("/metrics")
    rejected = {"gateway": "standard", "type": "unknown", "outcome": "rejected"}
    assert (
        metric_value(metrics_after, "webhook_deliveries_total", **rejected)
        - metric_value(metrics_before, "webhook_deliveries_total", **rejected)
        == FLOOD
    ), "every refusal is counted"
    suppressed = {"gateway": "standard"}
    assert (
        metric_value(metrics_after, "audit_rows_suppressed_total", **suppressed)
        - metric_value(metrics_before, "audit_rows_suppressed_total", **suppressed)
        == FLOOD - BUDGET
    )

    service.stop()  # the interval's count is written at shutdown at the latest
    aggregate = [row for row in _rows_since(service_db, start, "standard") if row["event_id"] is None]
    assert len(aggregate) == 1, aggregate
    detail = str(aggregate[0]["detail"])
    assert re.match(rf"{FLOOD - BUDGET} more unverified deliveries not itemised", detail), detail
    assert f"{FLOOD - BUDGET} x 401" in detail


def test_the_budget_is_per_gateway(
    budgeted: tuple[SubprocessService, GatewaySimulator], service_db: ServiceDb
) -> None:
    _, gateway = budgeted
    for _ in range(BUDGET + 3):
        gateway.send(gateway.forged_capture(Payment.new("standard", USER_ID, PACK)))
    start = _last_audit_id(service_db)
    stripe = Payment.new(gateway.require("stripe"), USER_ID, PACK)
    assert gateway.send(gateway.forged_capture(stripe)).status_code == 401
    rows = _rows_since(service_db, start, "stripe")
    assert [(row["payment_id"], row["outcome"]) for row in rows] == [(stripe.payment_id, "rejected")]


def test_verified_refusals_are_never_limited(
    budgeted: tuple[SubprocessService, GatewaySimulator], service_db: ServiceDb
) -> None:
    _, gateway = budgeted
    start = _last_audit_id(service_db)
    for _ in range(BUDGET + 5):  # signed, but for a pack that does not exist: 422, audited
        payment = Payment.new(gateway.require("standard"), USER_ID, "no-such-pack")
        assert gateway.send(gateway.capture(payment)).status_code == 422
    assert len(_rows_since(service_db, start, "standard")) == BUDGET + 5


def test_the_aggregate_is_written_when_the_interval_ends(
    readiness_target: Target, service_db: ServiceDb
) -> None:
    service = _service(readiness_target, AUDIT_UNVERIFIED_PER_INTERVAL="2", AUDIT_UNVERIFIED_INTERVAL_S="1")
    service.start()
    client = WebhookClient(service.url)
    try:
        gateway = GatewaySimulator(readiness_target, client)
        start = _last_audit_id(service_db)
        for _ in range(6):
            gateway.send(gateway.forged_capture(Payment.new("standard", USER_ID, PACK)))
        deadline = time.monotonic() + 10
        accounted, rows = 0, []
        while accounted < 6 and time.monotonic() < deadline:  # without stopping the service
            time.sleep(0.2)
            rows = _rows_since(service_db, start, "standard")
            itemised = [row for row in rows if row["event_id"] is not None]
            counted = sum(int(str(row["detail"]).split(" ", 1)[0]) for row in rows if row["event_id"] is None)
            accounted = len(itemised) + counted
        assert accounted == 6, f"6 forged deliveries, {accounted} accounted for in 10 s: {rows}"
        assert any(row["event_id"] is None for row in rows), "no aggregated row"
    finally:
        client.close()
        service.cleanup()
