"""Settings: REQUIRE_WEBHOOK_SIGNATURE=false turns verification off (and says so)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_kit import PACK, USER_ID, ServiceDb, assert_captured

from cardpack_service.config import Settings
from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import GATEWAYS, GatewayName, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.stack import EmbeddedDeployment, SubprocessService, service_environment
from readiness_harness.target.target import Target


@pytest.fixture(scope="module")
def unverified_service(readiness_target: Target) -> Iterator[SubprocessService]:
    """A second service on the session's PostgreSQL and Redis, with verification off."""
    deployment = readiness_target.servers
    if not isinstance(deployment, EmbeddedDeployment):
        pytest.skip("starts a second service on the embedded default's servers")
    env = service_environment(
        deployment.database_url, deployment.redis_url, readiness_target.secrets, deployment.paypal_api_base
    )
    env["REQUIRE_WEBHOOK_SIGNATURE"] = "false"
    service = SubprocessService(env)
    service.start()
    try:
        yield service
    finally:
        service.cleanup()


@pytest.fixture(scope="module")
def unverified_gateway(
    readiness_target: Target, unverified_service: SubprocessService
) -> Iterator[GatewaySimulator]:
    client = WebhookClient(unverified_service.url)
    try:
        yield GatewaySimulator(readiness_target, client)
    finally:
        client.close()


def test_signatures_are_required_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUIRE_WEBHOOK_SIGNATURE", raising=False)
    assert Settings().require_webhook_signature is True
    monkeypatch.setenv("REQUIRE_WEBHOOK_SIGNATURE", "false")
    assert Settings().require_webhook_signature is False


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_an_unsigned_capture_is_accepted_when_signatures_are_off(
    unverified_gateway: GatewaySimulator, service_db: ServiceDb, gateway: GatewayName
) -> None:
    payment = Payment.new(unverified_gateway.require(gateway), USER_ID, PACK)
    assert_captured(unverified_gateway.send(unverified_gateway.unsigned_capture(payment)), payment.payment_id)
    assert service_db.live_cards(payment.payment_id) == 5
    again = unverified_gateway.send(unverified_gateway.unsigned_capture(payment))
    assert (again.status_code, again.body["status"]) == (200, "duplicate")


def test_the_same_unsigned_capture_is_refused_by_the_verifying_service(
    payment_gateway: GatewaySimulator, service_db: ServiceDb
) -> None:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    assert payment_gateway.send(payment_gateway.unsigned_capture(payment)).status_code == 401
    assert service_db.purchases(payment.payment_id) == []


def test_turning_signatures_off_is_logged_as_a_warning(unverified_service: SubprocessService) -> None:
    log = unverified_service.log_path.read_text(errors="replace")
    assert "REQUIRE_WEBHOOK_SIGNATURE=false" in log, log[-2000:]
