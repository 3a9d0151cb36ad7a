"""Unauthenticated or malformed input is a 4xx: never a 5xx, an `error` row or metric.

Each case is one the security review reproduced as a 500 (issue 10, finding 6): a PayPal
body of 200,000 `[` (RecursionError before verification), a client gone mid-body
(ClientDisconnect), an amount beyond 64 bits; plus deep nesting on every gateway.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from service_kit import PACK, USER_ID, ServiceDb, metric_value, session_deployment

from readiness_harness.gateways.clients import AdminClient, Reply, WebhookClient
from readiness_harness.gateways.events import Delivery, EventFactory, GatewayName, Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target

ERROR_SERIES = [
    ("webhook_deliveries_total", {"outcome": "error"}),
    ("unhandled_errors_total", {}),
]


class ErrorWatch:
    """Sums of the error series before a test, to compare with after it."""

    def __init__(self, client: WebhookClient, service_db: ServiceDb) -> None:
        self.client = client
        self.service_db = service_db
        self.metrics = self._sums()
        self.audit_id = service_db.query("SELECT coalesce(max(audit_id), 0) AS id FROM audit_log")[0]["id"]

    def _sums(self) -> dict[str, float]:
        _, text = self.client.get_text("/metrics")
        sums: dict[str, float] = {}
        for name, labels in ERROR_SERIES:
            total = 0.0
            for line in text.splitlines():
                if line.startswith(name + "{") and all(
                    f'{key}="{value}"' in line for key, value in labels.items()
                ):
                    total += float(line.rsplit(" ", 1)[1])
            sums[name] = total
        return sums

    def assert_no_errors(self) -> None:
        assert self._sums() == self.metrics, "an error metric moved"
        rows = self.service_db.query(
            "SELECT gateway, outcome, detail FROM audit_log WHERE audit_id > %s AND outcome = 'error'",
            self.audit_id,
        )
        assert rows == [], rows


@pytest.fixture
def errors(webhook_client: WebhookClient, service_db: ServiceDb) -> Iterator[ErrorWatch]:
    watch = ErrorWatch(webhook_client, service_db)
    yield watch
    watch.assert_no_errors()


def signed_then_swapped(gateway: GatewaySimulator, payment: Payment, body: bytes) -> Delivery:
    """Headers of a genuinely signed capture, carrying another body: every header is
    present and well formed, but the signature does not cover these bytes."""
    return gateway.capture(payment).with_body(body)


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _rejected_entries(admin_client: AdminClient, payment: Payment) -> list[dict[str, Any]]:
    return [entry for entry in admin_client.audit(payment.payment_id) if entry["outcome"] == "rejected"]


# --- nesting ----------------------------------------------------------------------------


def test_a_paypal_body_of_200000_brackets_is_400_before_any_verification(
    payment_gateway: GatewaySimulator, errors: ErrorWatch, readiness_target: Target
) -> None:
    payment = Payment.new(payment_gateway.require("paypal"), USER_ID, PACK)
    sandbox = session_deployment(readiness_target).sandbox
    assert sandbox is not None
    verifications = sandbox.verifications
    reply = payment_gateway.send(signed_then_swapped(payment_gateway, payment, b"[" * 200_000))
    assert reply.status_code == 400, reply
    assert "nested deeper" in reply.body["detail"]
    assert sandbox.verifications == verifications, "PayPal's API was called for it"


@pytest.mark.parametrize("body", [b"[" * 200_000, deep(5000)], ids=["200000-brackets", "5000-objects"])
def test_an_unsigned_deep_body_is_401_on_every_gateway(
    payment_gateway: GatewaySimulator, gateway: GatewayName, errors: ErrorWatch, body: bytes
) -> None:
    payment = Payment.new(gateway, USER_ID, PACK)
    delivery = signed_then_swapped(payment_gateway, payment, body)
    reply = payment_gateway.send(delivery)
    expected = 400 if gateway == "paypal" else 401  # PayPal's body is checked before its API is asked
    assert reply.status_code == expected, reply


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_a_signed_body_nested_too_deep_is_400_and_audited(
    payment_gateway: GatewaySimulator,
    gateway: GatewayName,
    service_db: ServiceDb,
    errors: ErrorWatch,
    depth: int,
) -> None:
    payment = Payment.new(gateway, USER_ID, PACK)
    capture = EventFactory().capture(payment)
    body = json.dumps(capture).encode()[:-1] + b', "extra": ' + b"[" * depth + b"]" * depth + b"}"
    if gateway == "paypal":  # the sandbox's signer parses what it signs; PayPal refuses it unverified
        delivery = signed_then_swapped(payment_gateway, payment, body)
    else:
        delivery = payment_gateway.signer.sign_raw(gateway, body, event_id=payment.capture_event_id)
    reply = payment_gateway.send(delivery)
    assert reply.status_code == 400, reply
    assert reply.body == {"detail": "JSON nested deeper than 32 levels"}
    assert service_db.purchases(payment.payment_id) == []
    newest = service_db.query(
        "SELECT outcome, detail FROM audit_log WHERE gateway = %s ORDER BY audit_id DESC LIMIT 1", gateway
    )
    assert newest == [{"outcome": "rejected", "detail": "JSON nested deeper than 32 levels"}]


def test_a_signed_body_nested_32_deep_is_parsed(payment_gateway: GatewaySimulator, payment: Payment) -> None:
    body = EventFactory().capture(payment)
    body["extra"] = json.loads(b"[" * 31 + b"]" * 31)  # 32 levels with the event object itself
    reply = payment_gateway.send(payment_gateway.signed(payment.gateway, body))
    assert (reply.status_code, reply.body.get("status")) == (200, "captured"), reply


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 40 + b'"' + b'\\"' * 30_000,
        b"[" * 40 + b'"' + b'\\"' * 30_000 + b"\\",
        b"[" * 40 + b'"a' * 30_000,
        b"[" * 40 + b'"' + b"\\" * 60_000,
    ],
    ids=["escaped-quotes", "escaped-quotes-and-lone-backslash", "many-strings", "backslashes"],
)
def test_strings_that_would_make_the_depth_measure_quadratic_are_refused_quickly(
    payment_gateway: GatewaySimulator, gateway: GatewayName, errors: ErrorWatch, body: bytes
) -> None:
    """A regular expression for strings that fails at every quote after scanning to the end
    takes seconds of CPU on these; the measure must stay linear (PayPal's body is measured
    before verification, the others' when their claimed identity is audited: up to 64 KiB,
    hence 60 KB here)."""
    payment = Payment.new(gateway, USER_ID, PACK)
    started = time.monotonic()
    reply = payment_gateway.send(signed_then_swapped(payment_gateway, payment, body))
    elapsed = time.monotonic() - started
    assert reply.status_code == (400 if gateway == "paypal" else 401), reply
    assert elapsed < 3, f"{elapsed:.1f}s for one refusal"


# --- numbers ------------------------------------------------------------------------------


def _with_amount(gateway: GatewayName, payment: Payment, amount: Any) -> dict[str, Any]:
    event = EventFactory().capture(payment)
    if gateway == "stripe":
        event["data"]["object"]["amount"] = event["data"]["object"]["amount_received"] = amount
    elif gateway == "paypal":
        event["resource"]["amount"]["value"] = amount
    else:
        event["amount"] = amount
    return event


@pytest.mark.parametrize("amount", [2**63, 2**64 + 1, 10**40], ids=["2^63", "2^64+1", "10^40"])
def test_an_amount_beyond_64_bits_is_422_on_every_gateway(
    payment_gateway: GatewaySimulator,
    gateway: GatewayName,
    admin_client: AdminClient,
    service_db: ServiceDb,
    errors: ErrorWatch,
    amount: int,
) -> None:
    payment = Payment.new(gateway, USER_ID, PACK)
    value: Any = f"{amount}.00" if gateway == "paypal" else amount
    reply = payment_gateway.send(payment_gateway.signed(gateway, _with_amount(gateway, payment, value)))
    assert reply.status_code == 422, reply
    assert service_db.purchases(payment.payment_id) == []
    assert _rejected_entries(admin_client, payment), "the refusal is audited"


@pytest.mark.parametrize("value", ["1e999999999", "NaN", "Infinity", "-1e999999999", "92233720368547758.08"])
def test_a_paypal_amount_out_of_range_is_422(
    payment_gateway: GatewaySimulator, service_db: ServiceDb, errors: ErrorWatch, value: str
) -> None:
    payment = Payment.new(payment_gateway.require("paypal"), USER_ID, PACK)
    started = time.monotonic()
    reply = payment_gateway.send(payment_gateway.signed("paypal", _with_amount("paypal", payment, value)))
    assert reply.status_code == 422, reply
    assert time.monotonic() - started < 5, "no billion-digit integer was built"
    assert service_db.purchases(payment.payment_id) == []


def test_the_largest_bigint_amount_is_captured(payment_gateway: GatewaySimulator, payment: Payment) -> None:
    value: Any = "92233720368547758.07" if payment.gateway == "paypal" else 2**63 - 1
    reply = payment_gateway.send(
        payment_gateway.signed(payment.gateway, _with_amount(payment.gateway, payment, value))
    )
    assert (reply.status_code, reply.body.get("status")) == (200, "captured"), reply


def test_an_integer_of_5000_digits_is_400(payment_gateway: GatewaySimulator, errors: ErrorWatch) -> None:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    body = json.dumps(EventFactory().capture(payment)).replace('"amount": 500', '"amount": ' + "9" * 5000)
    reply = payment_gateway.send(payment_gateway.signer.sign_raw("standard", body.encode()))
    assert reply.status_code == 400, reply


# --- a sender that goes away mid-body ------------------------------------------------------


def _tls_socket(target: Target) -> socket.socket:
    url = urlsplit(target.url)
    assert url.hostname and url.port
    raw = socket.create_connection((url.hostname, url.port), timeout=10)
    if url.scheme != "https":
        return raw
    context = ssl.create_default_context(cafile=str(target.ca_file) if target.ca_file else None)
    return context.wrap_socket(raw, server_hostname=url.hostname)


@pytest.mark.parametrize("sent", [0, 10, 1000], ids=["headers-only", "10-bytes", "1000-bytes"])
def test_a_sender_gone_mid_body_leaves_no_error(
    readiness_target: Target,
    payment_gateway: GatewaySimulator,
    gateway: GatewayName,
    webhook_client: WebhookClient,
    errors: ErrorWatch,
    sent: int,
) -> None:
    delivery = payment_gateway.capture(Payment.new(gateway, USER_ID, PACK))
    _, before = webhook_client.get_text("/metrics")
    head = (
        f"POST {delivery.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(delivery.body) + 5000}\r\n"
    )
    head += "".join(f"{name}: {value}\r\n" for name, value in delivery.headers.items()) + "\r\n"
    with _tls_socket(readiness_target) as sock:
        sock.sendall(head.encode() + delivery.body[:sent])
        time.sleep(0.3)
    disconnects = {"gateway": gateway}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the handler notices the disconnect on its next read
        _, after = webhook_client.get_text("/metrics")
        counted = metric_value(after, "webhook_client_disconnects_total", **disconnects)
        if counted == metric_value(before, "webhook_client_disconnects_total", **disconnects) + 1:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the disconnect was not counted")


def test_the_reply_to_each_case_is_json(payment_gateway: GatewaySimulator) -> None:
    """The 4xx bodies are the contract's `{"detail": ...}`, never a traceback."""
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    reply: Reply = payment_gateway.send(signed_then_swapped(payment_gateway, payment, b"[" * 50))
    assert set(reply.body) == {"detail"}, reply.body
