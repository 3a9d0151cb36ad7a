"""Steps for the Pre-launch area: configuration, reachability, TLS, sign-offs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from pytest_bdd import given, parsers, then, when

from readiness_harness.checklist.outcomes import NOT_APPLICABLE, NOT_MEASURED, VERIFIED, not_measured
from readiness_harness.checklist.recorder import ChecklistLine
from readiness_harness.gateways.clients import Reply
from readiness_harness.gateways.events import PATHS, Delivery, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.monitoring.exposition import sample_sum
from readiness_harness.report.signoff import Attestation, Attestations
from readiness_harness.target.target import Target
from readiness_harness.target.tls import CertificateInfo, TLSCheckError, inspect_certificate

METRICS = ("webhook_deliveries_total", "webhook_latency_seconds", "dependency_errors_total")
SUITES = ("smoke", "gateway")


def _webhooks_status(payment_gateway: GatewaySimulator) -> dict[str, Any] | None:
    """/status `webhooks` (the reference service's addition to the contract), or None when
    the target does not report it."""
    webhooks = payment_gateway.client.get("/status").body.get("webhooks")
    return webhooks if isinstance(webhooks, dict) else None


@then("the service reports that webhook signatures are required")
def _(payment_gateway: GatewaySimulator, record_evidence: Callable[[str, Any], None]) -> None:
    webhooks = _webhooks_status(payment_gateway)
    record_evidence("status_webhooks", webhooks)
    if webhooks is not None and "signatures_required" in webhooks:
        assert webhooks["signatures_required"] is True, (
            f"/status says webhook signatures are not required: {webhooks}; "
            "set REQUIRE_WEBHOOK_SIGNATURE=true"
        )


@when(parsers.parse("an empty delivery is posted to the {gateway} endpoint"), target_fixture="replies")
def _(payment_gateway: GatewaySimulator, gateway: str) -> list[Reply]:
    payment_gateway.require(gateway)
    delivery = Delivery(gateway, PATHS[gateway], b"{}", {"Content-Type": "application/json"})  # type: ignore[arg-type]
    return [payment_gateway.send(delivery)]


@then("the endpoint answers with a client error, not a missing route or a server error")
def _(replies: list[Reply]) -> None:
    status = replies[-1].status_code
    assert 400 <= status < 500 and status not in (404, 405), (
        f"an empty delivery answered {status}: {replies[-1].body} (a 4xx other than 404/405 means the "
        "endpoint is there and refuses bad input)"
    )


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
def _(payment_gateway: GatewaySimulator, gateway: str, record_evidence: Callable[[str, Any], None]) -> None:
    payment_gateway.require(gateway)
    webhooks = _webhooks_status(payment_gateway)
    record_evidence("status_webhooks", webhooks)
    if webhooks is not None and gateway in webhooks:
        assert webhooks[gateway] is True, (
            f"/status says {gateway} deliveries cannot be verified: set its secret on the target ({webhooks})"
        )


@then(parsers.parse("a {gateway} delivery signed with the shared secret is acknowledged"))
def _(payment_gateway: GatewaySimulator, gateway: str) -> None:
    name = payment_gateway.require(gateway)
    delivery = payment_gateway.other(Payment.new(name, "407", "black"), "readiness.secret_check")
    reply = payment_gateway.send(delivery)
    assert reply.ok, (
        f"a {gateway} delivery signed with the harness's secret answered {reply.status_code}: {reply.body}"
        + payment_gateway.secret_hint(reply)
    )


@when("the metrics endpoint is scraped", target_fixture="metrics_before")
def _(payment_gateway: GatewaySimulator) -> str:
    status, text = payment_gateway.client.get_text("/metrics")
    assert status == 200, f"/metrics answered {status}"
    return text


@when(
    parsers.parse('a new payment by user "{user_id}" for a "{pack_type}" pack is captured'),
    target_fixture="payment",
)
def _(payment_gateway: GatewaySimulator, user_id: str, pack_type: str) -> Payment:
    payment = Payment.new(payment_gateway.require(payment_gateway.primary), user_id, pack_type)
    reply = payment_gateway.send(payment_gateway.capture(payment))
    assert reply.ok and reply.body.get("status") == "captured", (
        f"the capture answered {reply.status_code}: {reply.body}" + payment_gateway.secret_hint(reply)
    )
    return payment


@when("the metrics endpoint is scraped again", target_fixture="metrics_text")
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


@then("the capture raised the accepted deliveries and the latency observations of its gateway")
def _(
    metrics_before: str, metrics_text: str, payment: Payment, record_evidence: Callable[[str, Any], None]
) -> None:
    labels = {"gateway": payment.gateway, "outcome": "accepted"}
    accepted = (
        sample_sum(metrics_before, "webhook_deliveries_total", labels),
        sample_sum(metrics_text, "webhook_deliveries_total", labels),
    )
    observed = (
        sample_sum(metrics_before, "webhook_latency_seconds_count", {"gateway": payment.gateway}),
        sample_sum(metrics_text, "webhook_latency_seconds_count", {"gateway": payment.gateway}),
    )
    record_evidence("metrics", {"accepted_before_after": accepted, "latency_count_before_after": observed})
    assert accepted[1] >= accepted[0] + 1, (
        f"webhook_deliveries_total{{gateway={payment.gateway!r},outcome='accepted'}} went from "
        f"{accepted[0]} to "
        f"{accepted[1]}: the capture was not counted"
    )
    assert observed[1] >= observed[0] + 1, (
        f"webhook_latency_seconds_count{{gateway={payment.gateway!r}}} went from {observed[0]} "
        f"to {observed[1]}: "
        "the capture's latency was not observed"
    )


@when("the target's TLS certificate is inspected", target_fixture="certificate")
def _(readiness_target: Target) -> CertificateInfo:
    if not readiness_target.url.startswith("https://"):
        not_measured(f"{readiness_target.shown_url} is not an https URL", option="the target's https:// URL")
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
def _(checklist_so_far: list[ChecklistLine], record_evidence: Callable[[str, Any], None]) -> None:
    """Judged like any line: from the applicable examples (not applicable ones are left out)."""
    lines = [line for line in checklist_so_far if set(SUITES) & set(line.tags)]
    record_evidence("suite_lines", {line.scenario: line.summary for line in lines})
    failed = [line for line in lines if line.state not in (VERIFIED, NOT_APPLICABLE, NOT_MEASURED)]
    assert not failed, "suite lines failed: " + "; ".join(
        f"{line.scenario} ({line.messages[0] if line.messages else line.state})" for line in failed
    )
    unmeasured = [line.scenario for line in lines if line.state == NOT_MEASURED]
    if unmeasured:
        not_measured(f"these suite lines were not measured in this run: {'; '.join(unmeasured)}")


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
