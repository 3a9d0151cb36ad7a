"""Dependency outages on a stack of its own: Redis down degrades /status, not captures;
PostgreSQL down answers 503 (the gateway retries) and leaves nothing half-written."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from service_kit import PACK, PACK_SIZE, USER_ID, ServiceDb, assert_captured

from readiness_harness.gateways.clients import Reply, WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.embedded import EmbeddedPostgres, EmbeddedRedis
from readiness_harness.target.resolve import embedded_target
from readiness_harness.target.stack import EmbeddedDeployment, embedded_stack
from readiness_harness.target.target import Target


@pytest.fixture(scope="module")
def outage_deployment(readiness_settings: HarnessSettings) -> Iterator[EmbeddedDeployment]:
    """A separate embedded deployment we may break."""
    with embedded_stack(readiness_settings.secrets) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def outage_target(readiness_settings: HarnessSettings, outage_deployment: EmbeddedDeployment) -> Target:
    return embedded_target(readiness_settings, outage_deployment)


@pytest.fixture(scope="module")
def outage_client(outage_target: Target) -> Iterator[WebhookClient]:
    client = WebhookClient(outage_target.url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def outage_gateway(outage_target: Target, outage_client: WebhookClient) -> GatewaySimulator:
    return GatewaySimulator(outage_target, outage_client)


@pytest.fixture(scope="module")
def outage_db(outage_target: Target) -> ServiceDb:
    assert outage_target.database_url is not None
    return ServiceDb(outage_target.database_url)


@pytest.fixture
def redis_down(outage_deployment: EmbeddedDeployment) -> Iterator[EmbeddedRedis]:
    redis = outage_deployment.redis
    assert redis is not None
    redis.stop()
    try:
        yield redis
    finally:
        redis.start()


@pytest.fixture
def postgres_down(outage_deployment: EmbeddedDeployment) -> Iterator[EmbeddedPostgres]:
    postgres = outage_deployment.postgres
    assert postgres is not None
    postgres.stop()
    try:
        yield postgres
    finally:
        if not postgres.is_running():
            postgres.start()


def eventually_ok(send: object, attempts: int = 20) -> Reply:
    """The gateway's retry loop: resend until a 2xx (a 503 asks for exactly that)."""
    assert callable(send)
    reply: Reply = send()
    for _ in range(attempts):
        if reply.ok:
            return reply
        assert reply.status_code == 503, reply
        time.sleep(0.1)
        reply = send()
    return reply


def test_status_is_ok_with_every_dependency_up(outage_client: WebhookClient) -> None:
    reply = outage_client.get("/status")
    assert reply.status_code == 200, reply
    assert (reply.body["database"], reply.body["redis"]) == ("ok", "ok")


def test_status_is_503_with_redis_down(outage_client: WebhookClient, redis_down: EmbeddedRedis) -> None:
    started = time.monotonic()
    reply = outage_client.get("/status")
    assert time.monotonic() - started < 5, "the status check must not hang on a dead Redis"
    assert reply.status_code == 503, reply
    assert reply.body["redis"] == "down"
    assert reply.body["database"] == "ok"
    assert isinstance(reply.body["version"], str)
    assert set(reply.body["counts"]) == {"cards", "purchases", "artists"}


def test_a_capture_succeeds_with_redis_down(
    outage_gateway: GatewaySimulator, outage_db: ServiceDb, redis_down: EmbeddedRedis
) -> None:
    payment = Payment.new(outage_gateway.require("standard"), USER_ID, PACK)
    assert_captured(outage_gateway.send(outage_gateway.capture(payment)), payment.payment_id)
    assert outage_db.live_cards(payment.payment_id) == PACK_SIZE
    duplicate = outage_gateway.send(outage_gateway.capture(payment))
    assert (duplicate.status_code, duplicate.body["status"]) == (200, "duplicate")


def test_status_recovers_when_redis_returns(
    outage_deployment: EmbeddedDeployment, outage_client: WebhookClient
) -> None:
    redis = outage_deployment.redis
    assert redis is not None
    redis.stop()
    assert outage_client.get("/status").status_code == 503
    redis.start()
    reply = outage_client.get("/status")
    assert reply.status_code == 200, reply
    assert reply.body["redis"] == "ok"


def test_a_database_outage_is_503_and_the_retry_delivers_once(
    outage_target: Target,
    outage_gateway: GatewaySimulator,
    outage_db: ServiceDb,
    postgres_down: EmbeddedPostgres,
) -> None:
    payment = Payment.new(outage_gateway.require("standard"), USER_ID, PACK)
    capture = outage_gateway.capture(payment)
    with httpx.Client(base_url=outage_target.url, timeout=30) as client:
        response = client.post(capture.path, content=capture.body, headers=capture.headers)
        assert response.status_code == 503, response.text
        assert response.headers.get("retry-after"), response.headers
        status = client.get("/status")
        assert status.status_code == 503
        assert status.json()["database"] == "down"

    postgres_down.start()
    reply = eventually_ok(lambda: outage_gateway.send(capture))
    assert_captured(reply, payment.payment_id)
    assert outage_db.live_cards(payment.payment_id) == PACK_SIZE
    assert len(outage_db.purchases(payment.payment_id)) == 1
