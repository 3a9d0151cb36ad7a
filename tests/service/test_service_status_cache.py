"""/status reads its row counts at most once per STATUS_COUNTS_TTL_S; the dependency
checks stay live (a database outage is still 503 at once: test_service_outages)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from service_kit import PACK, PACK_SIZE, USER_ID, assert_captured, second_service

from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target

TTL_S = 1.5


@pytest.fixture(scope="module")
def cached(readiness_target: Target) -> Iterator[GatewaySimulator]:
    with second_service(readiness_target, STATUS_COUNTS_TTL_S=str(TTL_S)) as service:
        client = WebhookClient(service.url)
        try:
            yield GatewaySimulator(readiness_target, client)
        finally:
            client.close()


def test_counts_are_read_once_per_ttl_however_often_status_is_called(cached: GatewaySimulator) -> None:
    started = time.monotonic()
    first = cached.client.get("/status").body
    assert first["counts_age_s"] < 0.5, "the first call reads the counts"
    payment = Payment.new(cached.require("standard"), USER_ID, PACK)
    assert_captured(cached.send(cached.capture(payment)), payment.payment_id)
    burst = [cached.client.get("/status").body for _ in range(30)]
    assert time.monotonic() - started < TTL_S, "too slow to stay within one TTL: the test proves nothing"

    # within the TTL every answer carries the first counts (the capture is not in them yet),
    # ever older: no new count(*) ran; the database check itself ran every time
    assert all(body["counts"] == first["counts"] for body in burst)
    ages = [body["counts_age_s"] for body in burst]
    assert ages == sorted(ages) and ages[0] >= first["counts_age_s"]
    assert all(body["database"] == "ok" and body["redis"] == "ok" for body in burst)

    time.sleep(TTL_S)
    later = cached.client.get("/status").body
    assert later["counts_age_s"] < 0.5, later
    assert later["counts"]["purchases"] >= first["counts"]["purchases"] + 1
    assert later["counts"]["cards"] >= first["counts"]["cards"] + PACK_SIZE
