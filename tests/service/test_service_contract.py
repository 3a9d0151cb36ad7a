"""Every route of the reference service's HTTP contract (DESIGN.md), over HTTP."""

from __future__ import annotations

import socket
import time
from datetime import datetime

import httpx
import pytest
from service_kit import PACK, PACK_SIZE, USER_ID, ServiceDb, assert_captured, metric_value, session_deployment

from readiness_harness.gateways.clients import AdminClient, WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target


@pytest.fixture
def payment(payment_gateway: GatewaySimulator) -> Payment:
    return Payment.new(payment_gateway.require("standard"), USER_ID, PACK)


@pytest.fixture
def captured(payment_gateway: GatewaySimulator, payment: Payment) -> int:
    """The payment, captured once; the purchase id."""
    return assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)


def test_health_is_ok_and_names_the_instance(webhook_client: WebhookClient, readiness_target: Target) -> None:
    reply = webhook_client.get("/health")
    assert reply.status_code == 200, reply
    assert set(reply.body) == {"status", "instance"}, reply.body
    assert reply.body["status"] == "ok"
    host, _, pid = reply.body["instance"].rpartition(":")
    process = session_deployment(readiness_target).service.process
    assert process is not None
    assert (host, pid) == (socket.gethostname(), str(process.pid)), "default: <hostname>:<pid>"


def test_status_reports_database_redis_version_and_counts(webhook_client: WebhookClient) -> None:
    reply = webhook_client.get("/status")
    assert reply.status_code == 200, reply
    assert set(reply.body) == {
        "database",
        "redis",
        "version",
        "counts",
        "counts_age_s",
        "webhooks",
        "error_sink",
    }
    assert reply.body["error_sink"] is True, "the embedded default reports errors to the harness's sink"
    assert reply.body["database"] == "ok"
    assert reply.body["redis"] == "ok"
    assert isinstance(reply.body["version"], str) and reply.body["version"]
    counts = reply.body["counts"]
    assert set(counts) == {"cards", "purchases", "artists"}
    assert all(isinstance(value, int) and value >= 0 for value in counts.values()), counts
    assert counts["artists"] >= 1, "the schema seeds artists"
    webhooks = reply.body["webhooks"]
    assert webhooks == {
        "signatures_required": True,
        "standard": True,
        "stripe": True,
        "paypal": True,
        "admin_token": True,
    }, webhooks
    assert "whsec" not in str(reply.body), "status shows whether secrets are set, never them"


def fresh_counts(client: WebhookClient) -> dict[str, int]:
    """Counts read after the call began: waits out the cache (STATUS_COUNTS_TTL_S, 5 s)."""
    started = time.monotonic()
    deadline = started + 10
    while True:
        body = client.get("/status").body
        if time.monotonic() - body["counts_age_s"] > started or time.monotonic() > deadline:
            counts: dict[str, int] = body["counts"]
            return counts
        time.sleep(0.25)


def test_status_counts_follow_a_capture(
    webhook_client: WebhookClient, payment_gateway: GatewaySimulator, payment: Payment, service_db: ServiceDb
) -> None:
    before = service_db.query(
        "SELECT (SELECT count(*) FROM cards) AS cards, (SELECT count(*) FROM purchases) AS purchases,"
        " (SELECT count(*) FROM artists) AS artists"
    )[0]
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    after = fresh_counts(webhook_client)
    assert after["purchases"] == before["purchases"] + 1
    assert after["cards"] == before["cards"] + PACK_SIZE
    assert after["artists"] == before["artists"]


def test_capture_answers_the_contract_shape(
    payment_gateway: GatewaySimulator, payment: Payment, service_db: ServiceDb
) -> None:
    purchase_id = assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    rows = service_db.purchases(payment.payment_id)
    assert rows == [{"purchase_id": purchase_id, "user_id": USER_ID, "pack_type": PACK, "status": "active"}]
    cards = service_db.cards(payment.payment_id)
    assert len(cards) == PACK_SIZE
    assert all(card["user_id"] == USER_ID and not card["revoked"] for card in cards), cards


def test_the_same_capture_again_is_a_duplicate_and_changes_nothing(
    payment_gateway: GatewaySimulator, payment: Payment, captured: int, service_db: ServiceDb
) -> None:
    cards_before = service_db.cards(payment.payment_id)
    replies = payment_gateway.send_repeatedly(payment_gateway.capture(payment), 3)
    for reply in replies:
        assert reply.status_code == 200, reply
        assert reply.body == {
            "status": "duplicate",
            "payment_id": payment.payment_id,
            "event_id": payment.capture_event_id,
            "purchase_id": captured,
            "purchase_status": "active",
        }
    assert service_db.cards(payment.payment_id) == cards_before
    assert len(service_db.purchases(payment.payment_id)) == 1


def test_refund_revokes_every_card(
    payment_gateway: GatewaySimulator,
    payment: Payment,
    captured: int,
    admin_client: AdminClient,
    service_db: ServiceDb,
) -> None:
    reply = payment_gateway.send(payment_gateway.refund(payment))
    assert reply.status_code == 200, reply
    assert reply.body == {
        "status": "refunded",
        "payment_id": payment.payment_id,
        "result": {"cards_revoked": PACK_SIZE, "purchase_id": captured},
    }
    purchase = admin_client.purchase(payment.payment_id).body
    assert purchase["status"] == "refunded"
    assert len(purchase["cards"]) == PACK_SIZE
    assert all(card["revoked"] for card in purchase["cards"]), purchase
    assert service_db.live_cards(payment.payment_id) == 0


def test_the_same_refund_again_is_a_duplicate(
    payment_gateway: GatewaySimulator, payment: Payment, captured: int, service_db: ServiceDb
) -> None:
    refund = payment_gateway.refund(payment)
    assert payment_gateway.send(refund).body["status"] == "refunded"
    reply = payment_gateway.send(refund)
    assert reply.status_code == 200, reply
    assert reply.body == {
        "status": "duplicate",
        "payment_id": payment.payment_id,
        "event_id": payment.refund_event_id,
        "purchase_id": captured,
        "purchase_status": "refunded",
    }
    assert service_db.live_cards(payment.payment_id) == 0


def test_purchase_has_the_contract_shape(
    admin_client: AdminClient, payment: Payment, captured: int, service_db: ServiceDb
) -> None:
    reply = admin_client.purchase(payment.payment_id)
    assert reply.status_code == 200, reply
    assert set(reply.body) == {
        "purchase_id",
        "payment_id",
        "gateway",
        "user_id",
        "pack_type",
        "status",
        "cards",
    }
    assert reply.body["purchase_id"] == captured
    assert reply.body["gateway"] == "standard"
    assert reply.body["payment_id"] == payment.payment_id
    assert reply.body["user_id"] == USER_ID
    assert reply.body["pack_type"] == PACK
    assert reply.body["status"] == "active"
    cards = reply.body["cards"]
    assert len(cards) == PACK_SIZE
    for card in cards:
        assert set(card) == {"card_id", "artist_id", "revoked"}, card
        assert isinstance(card["card_id"], int) and isinstance(card["artist_id"], int), card
        assert card["revoked"] is False
    expected = [
        {"card_id": row["card_id"], "artist_id": row["artist_id"], "revoked": row["revoked"]}
        for row in service_db.cards(payment.payment_id)
    ]
    assert cards == expected


def test_unknown_purchase_is_404(admin_client: AdminClient) -> None:
    reply = admin_client.purchase("TX-NEVER-SEEN-0000")
    assert reply.status_code == 404, reply


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-the-admin-token"}, id="wrong-token"),
        pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
        pytest.param({"Authorization": "Basic YWRtaW46YWRtaW4="}, id="basic-scheme"),
    ],
)
@pytest.mark.parametrize("path", ["/purchases/{payment_id}", "/audit?payment_id={payment_id}", "/audit"])
def test_admin_routes_need_the_admin_token(
    anonymous_http: httpx.Client, payment: Payment, captured: int, headers: dict[str, str], path: str
) -> None:
    response = anonymous_http.get(path.format(payment_id=payment.payment_id), headers=headers)
    assert response.status_code == 401, response.text
    assert payment.payment_id not in response.text


def test_the_real_token_with_another_case_scheme_is_accepted(
    anonymous_http: httpx.Client, readiness_target: Target, payment: Payment, captured: int
) -> None:
    """RFC 6750: the auth scheme is case-insensitive."""
    response = anonymous_http.get(
        f"/purchases/{payment.payment_id}",
        headers={"Authorization": f"bearer {readiness_target.secrets.admin_token.reveal()}"},
    )
    assert response.status_code == 200, response.text


def test_audit_lists_a_payment_oldest_first(
    payment_gateway: GatewaySimulator, payment: Payment, admin_client: AdminClient
) -> None:
    payment_gateway.send(payment_gateway.capture(payment))
    payment_gateway.send(payment_gateway.capture(payment))
    payment_gateway.send(payment_gateway.refund(payment))
    entries = admin_client.audit(payment.payment_id)
    assert [(entry["event_id"], entry["type"], entry["outcome"]) for entry in entries] == [
        (payment.capture_event_id, "payment.captured", "accepted"),
        (payment.capture_event_id, "payment.captured", "duplicate"),
        (payment.refund_event_id, "payment.refunded", "accepted"),
    ]
    for entry in entries:
        assert {"event_id", "gateway", "type", "payment_id", "outcome", "received_at"} <= set(entry), entry
        assert entry["gateway"] == "standard"
        assert entry["payment_id"] == payment.payment_id
    stamps = [datetime.fromisoformat(entry["received_at"]) for entry in entries]
    assert all(stamp.tzinfo is not None for stamp in stamps)
    assert stamps == sorted(stamps)


def test_audit_of_an_unknown_payment_is_empty(admin_client: AdminClient) -> None:
    assert admin_client.audit("TX-NEVER-SEEN-0000") == []


def test_audit_without_a_payment_lists_the_latest_entries_oldest_first(
    payment_gateway: GatewaySimulator, payment: Payment, admin_http: httpx.Client
) -> None:
    payment_gateway.send(payment_gateway.capture(payment))
    payment_gateway.send(payment_gateway.refund(payment))
    response = admin_http.get("/audit", params={"limit": 2})
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [(entry["payment_id"], entry["type"]) for entry in entries] == [
        (payment.payment_id, "payment.captured"),
        (payment.payment_id, "payment.refunded"),
    ]


def test_metrics_expose_deliveries_and_latency(
    webhook_client: WebhookClient, payment_gateway: GatewaySimulator, payment: Payment
) -> None:
    labels = {"gateway": "standard", "type": "payment.captured", "outcome": "accepted"}
    status, before = webhook_client.get_text("/metrics")
    assert status == 200
    payment_gateway.send(payment_gateway.capture(payment))
    status, after = webhook_client.get_text("/metrics")
    assert status == 200
    assert "# TYPE webhook_deliveries_total counter" in after
    assert "# TYPE webhook_latency_seconds histogram" in after
    assert (
        metric_value(after, "webhook_deliveries_total", **labels)
        == metric_value(before, "webhook_deliveries_total", **labels) + 1
    )
    latency_before = metric_value(before, "webhook_latency_seconds_count", gateway="standard")
    assert metric_value(after, "webhook_latency_seconds_count", gateway="standard") == latency_before + 1


def test_metrics_are_prometheus_text(anonymous_http: httpx.Client) -> None:
    response = anonymous_http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "webhook_deliveries_total" in response.text
    assert "webhook_latency_seconds" in response.text
