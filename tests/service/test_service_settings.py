"""Settings: REQUIRE_WEBHOOK_SIGNATURE=false turns verification off (and says so)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from service_kit import PACK, USER_ID, ServiceDb, assert_captured

from cardpack_service.config import Settings
from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import GATEWAYS, GatewayName, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.stack import InProcessService, Target, service_environment


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def startup_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("cardpack_service")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def unverified_service(readiness_target: Target, startup_log: Records) -> Iterator[InProcessService]:
    """A second service on the session's PostgreSQL and Redis, with verification off."""
    if readiness_target.database_url is None or readiness_target.redis_url is None:
        pytest.skip("starts a second service on the embedded default's servers")
    env = service_environment(
        readiness_target.database_url, readiness_target.redis_url, readiness_target.secrets
    )
    env["REQUIRE_WEBHOOK_SIGNATURE"] = "false"
    service = InProcessService(env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def unverified_gateway(
    readiness_target: Target, unverified_service: InProcessService
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


def test_turning_signatures_off_is_logged_as_a_warning(
    unverified_service: InProcessService, startup_log: Records
) -> None:
    messages = [record.getMessage() for record in startup_log.records]
    assert any("REQUIRE_WEBHOOK_SIGNATURE=false" in message for message in messages), messages
