"""Metrics from a service running several worker processes add up across them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.stack import EmbeddedDeployment, SubprocessService, service_environment
from readiness_harness.target.target import Target

CAPTURES = 40


@pytest.fixture(scope="module")
def two_workers(readiness_target: Target) -> Iterator[Target]:
    deployment = readiness_target.servers
    assert isinstance(deployment, EmbeddedDeployment)
    service = SubprocessService(
        service_environment(
            deployment.database_url,
            deployment.redis_url,
            readiness_target.secrets,
            deployment.paypal_api_base,
        ),
        workers=2,
    )
    service.start()
    try:
        yield Target(service.url, readiness_target.secrets, readiness_target.gateways, embedded=True)
    finally:
        service.cleanup()


def _accepted(metrics: str) -> float:
    pattern = re.compile(
        r'^webhook_deliveries_total\{gateway="standard",outcome="accepted",type="payment.captured"\} '
        r"([0-9.e+]+)$",
        re.MULTILINE,
    )
    return sum(float(value) for value in pattern.findall(metrics))


@pytest.mark.slow
def test_counters_add_up_across_two_workers(two_workers: Target) -> None:
    client = WebhookClient(two_workers.url, timeout=30)
    gateway = GatewaySimulator(two_workers, client)
    before = _accepted(httpx.get(f"{two_workers.url}/metrics").text)
    deliveries = [gateway.capture(Payment.new("standard", "m1", "black")) for _ in range(CAPTURES)]
    replies = gateway.send_concurrently(deliveries)
    client.close()
    assert all(reply.body.get("status") == "captured" for reply in replies), replies[:3]
    after = _accepted(httpx.get(f"{two_workers.url}/metrics").text)
    assert after - before == CAPTURES, f"metrics counted {after - before} of {CAPTURES} captures"
    text = httpx.get(f"{two_workers.url}/metrics").text
    assert 'dependency_errors_total{dependency="database"} 0.0' in text
