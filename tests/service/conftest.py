"""Fixtures for the reference service's black-box tests (the harness's session stack)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from service_kit import PACK, USER_ID, RawSigner, ServiceDb

from readiness_harness.gateways.events import GATEWAYS, GatewayName, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target


@pytest.fixture(scope="session")
def service_db(readiness_target: Target) -> ServiceDb:
    """The embedded service's PostgreSQL, read directly (the source of truth)."""
    if readiness_target.database_url is None:
        pytest.skip("the service tests read the database; run them on the embedded default")
    return ServiceDb(readiness_target.database_url)


@pytest.fixture(scope="session")
def raw_signer(readiness_target: Target) -> RawSigner:
    return RawSigner(readiness_target.secrets)


@pytest.fixture(scope="session")
def admin_http(readiness_target: Target) -> Iterator[httpx.Client]:
    """Raw admin HTTP with the right bearer token (for listings the AdminClient lacks)."""
    with httpx.Client(
        base_url=readiness_target.url,
        headers={"Authorization": f"Bearer {readiness_target.secrets.admin_token.reveal()}"},
        timeout=30,
        verify=readiness_target.verify,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def anonymous_http(readiness_target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=readiness_target.url, timeout=30, verify=readiness_target.verify) as client:
        yield client


@pytest.fixture(params=GATEWAYS)
def gateway(request: pytest.FixtureRequest, payment_gateway: GatewaySimulator) -> GatewayName:
    """Each gateway in turn (skipped where the target does not configure it)."""
    return payment_gateway.require(request.param)


@pytest.fixture
def payment(gateway: GatewayName) -> Payment:
    """A new payment on each gateway in turn."""
    return Payment.new(gateway, USER_ID, PACK)
