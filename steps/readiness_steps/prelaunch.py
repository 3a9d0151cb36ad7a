"""Steps for the Pre-launch area: configuration, reachability, TLS, sign-offs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from readiness_harness.checklist.recorder import VERIFIED, ChecklistLine
from readiness_harness.gateways.clients import Reply
from readiness_harness.gateways.events import PATHS, Delivery
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.report.signoff import Attestation, Attestations
from readiness_harness.target.stack import Target
from readiness_harness.target.tls import CertificateInfo, TLSCheckError, inspect_certificate

ENDPOINTS = {"payments": PATHS["standard"], "stripe": PATHS["stripe"], "paypal": PATHS["paypal"]}
METRICS = ("webhook_deliveries_total", "webhook_latency_seconds", "dependency_errors_total")
MIN_DAYS_LEFT = 14
SUITES = ("smoke", "gateway")


@then("the service reports that webhook signatures are required")
def _(payment_gateway: GatewaySimulator) -> None:
    webhooks = payment_gateway.client.get("/status").body.get("webhooks") or {}
    assert webhooks.get("signatures_required") is True, f"/status webhooks: {webhooks}"


@when(parsers.parse("an empty delivery is posted to the {endpoint} endpoint"), target_fixture="replies")
def _(payment_gateway: GatewaySimulator, endpoint: str) -> list[Reply]:
    delivery = Delivery("standard", ENDPOINTS[endpoint], b"{}", {"Content-Type": "application/json"})
    return [payment_gateway.send(delivery)]


@then("the endpoint answers with a client error, not a missing route or a server error")
def _(replies: list[Reply]) -> None:
    status = replies[-1].status_code
    assert 400 <= status < 500 and status not in (404, 405), f"answered {status}: {replies[-1]}"


@when("the health and status endpoints are read", target_fixture="health_replies")
def _(payment_gateway: GatewaySimulator) -> dict[str, Reply]:
    return {path: payment_gateway.client.get(path) for path in ("/health", "/status")}


@then("health answers ok")
def _(health_replies: dict[str, Reply]) -> None:
    reply = health_replies["/health"]
    assert (reply.status_code, reply.body.get("status")) == (200, "ok"), reply


@then("status reports the database and redis as ok, a version and row counts")
def _(health_replies: dict[str, Reply], record_evidence: Callable[[str, Any], None]) -> None:
    reply = health_replies["/status"]
    record_evidence("status", reply.body)
    assert reply.status_code == 200, reply
    assert reply.body.get("database") == "ok" and reply.body.get("redis") == "ok", reply.body
    assert reply.body.get("version"), reply.body
    assert set(reply.body.get("counts") or {}) >= {"cards", "purchases", "artists"}, reply.body


@then(parsers.parse("the service reports that {gateway} deliveries can be verified"))
def _(payment_gateway: GatewaySimulator, gateway: str) -> None:
    webhooks = payment_gateway.client.get("/status").body.get("webhooks") or {}
    assert webhooks.get(gateway) is True, (
        f"/status says {gateway} deliveries cannot be verified: set its secret ({webhooks})"
    )


@when("the metrics endpoint is scraped", target_fixture="metrics_text")
def _(payment_gateway: GatewaySimulator) -> str:
    status, text = payment_gateway.client.get_text("/metrics")
    assert status == 200, f"/metrics answered {status}"
    return text


@then("it exposes webhook_deliveries_total, webhook_latency_seconds and dependency_errors_total")
def _(metrics_text: str) -> None:
    missing = [
        name
        for name in METRICS
        if f"# TYPE {name.removesuffix('_total')}" not in metrics_text
        and f"# TYPE {name}" not in metrics_text
    ]
    assert not missing, f"/metrics lacks {missing}"
    assert "webhook_deliveries_total{" in metrics_text, "no delivery has been counted"


@when("the target's TLS certificate is inspected", target_fixture="certificate")
def _(readiness_target: Target) -> CertificateInfo:
    if not readiness_target.url.startswith("https://"):
        pytest.skip(f"{readiness_target.url} is not served over HTTPS: nothing to inspect")
    try:
        return inspect_certificate(readiness_target.url, readiness_target.ca_file)
    except TLSCheckError as exc:
        raise AssertionError(str(exc)) from exc


@then("it is trusted for the target's host name")
def _(certificate: CertificateInfo, record_evidence: Callable[[str, Any], None]) -> None:
    record_evidence(
        "certificate",
        {
            "host": certificate.host,
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "not_after": certificate.not_after.isoformat(),
        },
    )


@then(parsers.parse("it stays valid for at least {days:d} more days"))
def _(certificate: CertificateInfo, days: int) -> None:
    left = certificate.days_left(datetime.now(UTC))
    assert left >= days, (
        f"the certificate of {certificate.host} expires on {certificate.not_after:%Y-%m-%d} "
        f"({left:.1f} days left, {days} required): renew it"
    )


@then("every smoke and gateway checklist line passed in this run")
def _(checklist_so_far: list[ChecklistLine]) -> None:
    lines = [line for line in checklist_so_far if set(SUITES) & set(line.tags)]
    ran = [line for line in lines if line.outcomes]
    if not ran:
        pytest.skip("the smoke and gateway suites did not run in this session")
    failing = [f"{line.scenario}: {line.state}" for line in lines if line.state != VERIFIED]
    assert not failing, f"suite lines not verified: {failing}"


@given(
    parsers.parse('the human item "{item}" is signed off in the attestations file'),
    target_fixture="attestation",
)
def _(attestations: Attestations, item: str, readiness_settings: Any) -> Attestation:
    found = attestations.items.get(item)
    assert found is not None, (
        f"no sign-off for {item!r} in {readiness_settings.attestations_file}: add who, when "
        "(YYYY-MM-DD) and a link to the evidence"
    )
    return found


@then("the sign-off names who, when, and a link to the evidence")
def _(attestation: Attestation, record_evidence: Callable[[str, Any], None]) -> None:
    record_evidence(
        "attestation",
        {"who": attestation.who, "when": attestation.when.isoformat(), "link": attestation.link},
    )
    assert attestation.who.strip() and attestation.link.strip(), attestation


@then("the sign-off is recent enough")
def _(attestation: Attestation, attestations: Attestations) -> None:
    age = attestation.age_days(date.today())
    assert 0 <= age <= attestations.max_age_days, (
        f"{attestation.item} was signed off by {attestation.who} {age} days ago "
        f"(on {attestation.when}); at most {attestations.max_age_days} days are accepted: renew it"
    )
