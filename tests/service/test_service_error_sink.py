"""Unhandled errors are counted (`unhandled_errors_total`) and reported to ERROR_SINK_URL
as a JSON POST without secrets; a sink that fails or hangs never fails or slows a delivery.

The error is a real one: the service's role lacks a privilege (EXECUTE on record_refund,
SELECT on audit_log), as after a botched manual grant, so refunds and audit reads fail in
PostgreSQL with InsufficientPrivilege, which no handler expects.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from service_kit import PACK, USER_ID, assert_captured, environment_on, metric_value, secret_values

from cardpack_service.migrate import drop_service_role, migrate, service_url
from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.embedded import free_port
from readiness_harness.target.stack import SubprocessService
from readiness_harness.target.target import Target


class Sink:
    """An error sink on loopback: records every POST; `hang` makes it never answer."""

    def __init__(self, hang: bool = False) -> None:
        self.reports: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.release = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sink.raw.append(body + str(self.headers).encode())
                if hang:
                    sink.release.wait(30)
                    return
                sink.reports.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/errors"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Sink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def crippled_role(readiness_target: Target) -> Iterator[str]:
    """A service role missing two of its grants; the URL to connect as it."""
    assert readiness_target.database_url
    owner = readiness_target.database_url
    role, password = f"cardpack_crippled_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    migrate(owner, role, password)
    with psycopg.connect(owner, autocommit=True) as conn:
        ident = sql.Identifier(role)
        conn.execute(
            sql.SQL("REVOKE EXECUTE ON FUNCTION record_refund(text, text, text, text) FROM {}").format(ident)
        )
        conn.execute(sql.SQL("REVOKE SELECT ON audit_log FROM {}").format(ident))
    yield service_url(owner, role, password)
    drop_service_role(owner, role)


@pytest.fixture
def make_service(readiness_target: Target, crippled_role: str) -> Iterator[Any]:
    started: list[tuple[SubprocessService, WebhookClient]] = []

    def make(sink_url: str) -> GatewaySimulator:
        env = environment_on(
            readiness_target, crippled_role, ERROR_SINK_URL=sink_url, INSTANCE_NAME="sink-test"
        )
        service = SubprocessService(env)
        service.start()
        client = WebhookClient(service.url)
        started.append((service, client))
        return GatewaySimulator(readiness_target, client)

    yield make
    for service, client in started:
        client.close()
        service.cleanup()


def _refund_fails(gateway: GatewaySimulator) -> tuple[Payment, float]:
    payment = Payment.new(gateway.require("standard"), USER_ID, PACK)
    assert_captured(gateway.send(gateway.capture(payment)), payment.payment_id)
    started = time.monotonic()
    reply = gateway.send(gateway.refund(payment))
    assert reply.status_code == 500 and reply.body == {"detail": "internal error"}, reply
    return payment, time.monotonic() - started


def test_an_unhandled_error_is_counted_and_reported_without_secrets(
    make_service: Any, readiness_target: Target
) -> None:
    with Sink() as sink:
        gateway = make_service(sink.url)
        assert gateway.client.get("/status").body["error_sink"] is True
        assert sink.url not in json.dumps(gateway.client.get("/status").body)
        _, before = gateway.client.get_text("/metrics")
        payment, _ = _refund_fails(gateway)
        audit = httpx.get(
            f"{gateway.client.base_url}/audit",
            params={"payment_id": payment.payment_id},
            headers={"Authorization": f"Bearer {readiness_target.secrets.admin_token.reveal()}"},
        )
        assert audit.status_code == 500, audit.text
        deadline = time.monotonic() + 5
        while len(sink.reports) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        _, after = gateway.client.get_text("/metrics")

    assert [(report["route"], report["exception"]) for report in sink.reports] == [
        ("standard", "InsufficientPrivilege"),
        ("other", "InsufficientPrivilege"),
    ]
    webhook = sink.reports[0]
    assert webhook["event_id"] == payment.refund_event_id
    assert (webhook["method"], webhook["path"], webhook["instance"]) == (
        "POST",
        "/webhooks/payments",
        "sink-test",
    )
    assert webhook["traceback"] and all(
        set(frame) == {"file", "line", "function"} for frame in webhook["traceback"]
    )
    for route in ("standard", "other"):
        assert metric_value(after, "unhandled_errors_total", route=route) == (
            metric_value(before, "unhandled_errors_total", route=route) + 1
        )
    assert metric_value(after, "error_reports_total", result="sent") >= 2
    sent = b"".join(sink.raw).decode(errors="replace")
    leaked = [value[:6] for value in secret_values(readiness_target.secrets) if value in sent]
    assert not leaked, f"the report carries secrets: {leaked}"
    assert payment.user_id not in sent, "no request body in the report"


@pytest.mark.parametrize("sink_kind", ["refusing", "hanging"])
def test_a_failing_sink_never_fails_or_slows_a_delivery(make_service: Any, sink_kind: str) -> None:
    with Sink(hang=True) as hanging:
        url = hanging.url if sink_kind == "hanging" else f"http://127.0.0.1:{free_port()}/errors"
        gateway = make_service(url)
        failed_before = metric_value(
            gateway.client.get_text("/metrics")[1], "error_reports_total", result="failed"
        )
        timings = [_refund_fails(gateway)[1] for _ in range(3)]
        payment = Payment.new(gateway.require("standard"), USER_ID, PACK)
        assert_captured(gateway.send(gateway.capture(payment)), payment.payment_id)
        if sink_kind == "refusing":
            deadline = time.monotonic() + 5
            failed = 0.0
            while failed < 3 and time.monotonic() < deadline:
                metrics = gateway.client.get_text("/metrics")[1]
                failed = metric_value(metrics, "error_reports_total", result="failed") - failed_before
                time.sleep(0.05)
            assert failed == 3, "each failed report is counted"
    assert max(timings) < 1.0, f"a delivery waited for the sink: {timings}"
