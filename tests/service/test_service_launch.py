"""Production launch settings of `python -m cardpack_service`, over real sockets.

Oversized headers get 431, a slowloris connection (half-sent headers, a trickled body,
or nothing at all) is closed within its timeout while genuine deliveries go on, kept-alive
connections close when idle, and beyond MAX_CONCURRENT_REQUESTS the answer is 503 with
Retry-After at once. The launcher also refuses bad settings and a database without the
schema, and logs one JSON line per delivery.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import select
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from launched import (
    LaunchedService,
    raw_connection,
    read_response,
    read_until_closed,
    run_launcher,
    status_of,
)
from service_kit import (
    PACK,
    USER_ID,
    ServiceDb,
    assert_captured,
    environment_on,
    metric_value,
    scratch_database,
    secret_values,
)

from cardpack_service.migrate import drop_service_role, migrate, service_url
from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.5
KEEPALIVE_TIMEOUT_S = 1
SLACK_S = 1.5  # timers fire on the event loop: allow for a busy 2-core machine


@pytest.fixture(scope="module")
def service_db_url(readiness_target: Target) -> Iterator[str]:
    """A role of its own for the launched services, on the session's database."""
    assert readiness_target.database_url
    role, password = f"cardpack_launch_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    migrate(readiness_target.database_url, role, password)
    yield service_url(readiness_target.database_url, role, password)
    drop_service_role(readiness_target.database_url, role)


def _environment(readiness_target: Target, database_url: str, **extra: str) -> dict[str, str]:
    return environment_on(readiness_target, database_url, **extra)


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("launch") / "service.log"


@pytest.fixture(scope="module")
def launched(readiness_target: Target, service_db_url: str, log_file: Path) -> Iterator[LaunchedService]:
    service = LaunchedService(
        _environment(
            readiness_target,
            service_db_url,
            HTTP_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
            HTTP_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
            HTTP_KEEPALIVE_TIMEOUT_S=str(KEEPALIVE_TIMEOUT_S),
            INSTANCE_NAME="launched-1",
            LOG_FILE=str(log_file),
        )
    )
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def launched_gateway(readiness_target: Target, launched: LaunchedService) -> Iterator[GatewaySimulator]:
    client = WebhookClient(launched.url)
    yield GatewaySimulator(readiness_target, client)
    client.close()


def _genuine_capture(gateway: GatewaySimulator) -> tuple[Payment, float]:
    payment = Payment.new(gateway.require("standard"), USER_ID, PACK)
    started = time.monotonic()
    assert_captured(gateway.send(gateway.capture(payment)), payment.payment_id)
    return payment, time.monotonic() - started


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    """Send what the server may stop reading halfway (it answers and closes first)."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


REQUEST_LINE = b"POST /webhooks/payments HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def trickle_until_answered(sock: socket.socket, data: bytes, limit_s: float) -> None:
    """One byte every 0.2 s (never finishing, always "active") until the server answers
    or closes, or `limit_s` is over."""
    started = time.monotonic()
    for byte in data:
        if select.select([sock], [], [], 0)[0] or time.monotonic() - started > limit_s:
            return
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return
        time.sleep(0.2)


# --- header limits ---------------------------------------------------------------------


def test_an_8_mib_header_gets_431(launched: LaunchedService) -> None:
    with raw_connection(launched.port) as sock:
        _send_quietly(sock, REQUEST_LINE + b"X-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n")
        response, _ = read_until_closed(sock, 10)
    assert status_of(response) == 431, response[:200]
    assert b"connection: close" in response.lower()


def test_20000_headers_get_431(launched: LaunchedService) -> None:
    headers = b"".join(b"X-H-%d: v\r\n" % index for index in range(20_000))
    with raw_connection(launched.port) as sock:
        _send_quietly(sock, REQUEST_LINE + headers + b"\r\n")
        response, _ = read_until_closed(sock, 10)
    assert status_of(response) == 431, response[:200]


def test_101_small_headers_get_431_and_100_do_not(
    launched: LaunchedService, launched_gateway: GatewaySimulator
) -> None:
    too_many = b"".join(b"X-H-%d: v\r\n" % index for index in range(101))
    with raw_connection(launched.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + too_many + b"\r\n")
        response, _ = read_until_closed(sock, 10)
    assert status_of(response) == 431, response[:200]
    # a genuine delivery with many (but allowed) headers, 14 KiB of them, goes through
    payment = Payment.new(launched_gateway.require("standard"), USER_ID, PACK)
    delivery = launched_gateway.capture(payment)
    padding = {f"X-Pad-{index}": "p" * 150 for index in range(90)}
    reply = httpx.post(
        f"{launched.url}{delivery.path}", content=delivery.body, headers={**delivery.headers, **padding}
    )
    assert reply.status_code == 200, reply.text


# --- read timeouts ------------------------------------------------------------------------


def test_an_idle_new_connection_is_closed_within_the_header_timeout(launched: LaunchedService) -> None:
    with raw_connection(launched.port) as sock:
        response, closed_after = read_until_closed(sock, HEADER_TIMEOUT_S + SLACK_S)
    assert response == b"", "nothing was asked, so nothing is answered"
    assert closed_after >= HEADER_TIMEOUT_S * 0.9


def test_half_sent_headers_are_cut_off_with_408_within_the_timeout(launched: LaunchedService) -> None:
    with raw_connection(launched.port) as sock:
        sock.sendall(REQUEST_LINE + b"Content-Type: application/json\r\n")
        started = time.monotonic()
        trickle_until_answered(sock, b"X-Slow: " + b"z" * 50, HEADER_TIMEOUT_S + SLACK_S)
        response, _ = read_until_closed(sock, SLACK_S)
        closed_after = time.monotonic() - started
    assert status_of(response) == 408, response[:200]
    assert closed_after <= HEADER_TIMEOUT_S + SLACK_S, f"open for {closed_after:.1f}s"


def test_a_trickled_body_is_cut_off_with_408_and_leaves_no_error(
    launched: LaunchedService, service_db: ServiceDb
) -> None:
    metrics_before = httpx.get(f"{launched.url}/metrics").text
    audit_before = service_db.query("SELECT max(audit_id) AS id FROM audit_log")[0]["id"] or 0
    with raw_connection(launched.port) as sock:
        sock.sendall(REQUEST_LINE + b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{")
        started = time.monotonic()
        trickle_until_answered(sock, b" " * 100, BODY_TIMEOUT_S + SLACK_S)
        response, _ = read_until_closed(sock, SLACK_S)
        closed_after = time.monotonic() - started
    assert status_of(response) == 408, response[:200]
    assert closed_after <= BODY_TIMEOUT_S + SLACK_S, f"open for {closed_after:.1f}s"

    time.sleep(0.2)  # the handler sees the disconnect right after the cut
    metrics_after = httpx.get(f"{launched.url}/metrics").text
    for name, labels in (
        ("webhook_deliveries_total", {"gateway": "standard", "outcome": "error"}),
        ("unhandled_errors_total", {"route": "standard"}),
    ):
        assert metric_value(metrics_after, name, **labels) == metric_value(metrics_before, name, **labels), (
            name
        )
    disconnects = {"gateway": "standard"}
    assert metric_value(metrics_after, "webhook_client_disconnects_total", **disconnects) == (
        metric_value(metrics_before, "webhook_client_disconnects_total", **disconnects) + 1
    )
    new_rows = service_db.query(
        "SELECT outcome FROM audit_log WHERE audit_id > %s AND gateway = 'standard'", audit_before
    )
    assert "error" not in {row["outcome"] for row in new_rows}, new_rows


def test_genuine_deliveries_go_on_while_slowloris_connections_are_open(
    launched: LaunchedService, launched_gateway: GatewaySimulator
) -> None:
    stop = threading.Event()
    sockets: list[socket.socket] = []
    for index in range(30):
        sock = socket.create_connection(("127.0.0.1", launched.port), timeout=10)
        if index % 2:
            sock.sendall(REQUEST_LINE)  # headers never finished
        else:
            sock.sendall(REQUEST_LINE + b"Content-Type: application/json\r\nContent-Length: 900\r\n\r\n{")
        sockets.append(sock)

    def trickle() -> None:
        while not stop.is_set():
            for index, sock in enumerate(sockets):
                with contextlib.suppress(OSError):
                    sock.send(b"x" if index % 2 else b" ")
            time.sleep(0.2)

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    try:
        timings = [_genuine_capture(launched_gateway)[1] for _ in range(5)]
        time.sleep(max(HEADER_TIMEOUT_S, BODY_TIMEOUT_S) + SLACK_S)
        stop.set()
        closed = 0
        for sock in sockets:
            try:
                read_until_closed(sock, 0.5)
                closed += 1
            except TimeoutError:
                pass
    finally:
        stop.set()
        trickler.join(timeout=5)
        for sock in sockets:
            sock.close()
    assert max(timings) < 2.0, f"genuine captures took {timings}"
    assert closed == len(sockets), f"only {closed} of {len(sockets)} slow connections were closed"


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(
    launched: LaunchedService,
) -> None:
    with raw_connection(launched.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_response(sock)
        assert status_of(first) == 200, first
        rest, closed_after = read_until_closed(sock, KEEPALIVE_TIMEOUT_S + SLACK_S)
    assert rest == b""
    assert closed_after >= KEEPALIVE_TIMEOUT_S * 0.9


# --- the concurrency limit -----------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(readiness_target: Target, service_db_url: str) -> Iterator[LaunchedService]:
    service = LaunchedService(
        _environment(readiness_target, service_db_url, MAX_CONCURRENT_REQUESTS="3", HTTP_BODY_TIMEOUT_S="3")
    )
    service.start()
    yield service
    service.stop()


def test_beyond_the_concurrency_limit_the_answer_is_503_with_retry_after_at_once(
    limited: LaunchedService, readiness_target: Target
) -> None:
    holders = [socket.create_connection(("127.0.0.1", limited.port), timeout=10) for _ in range(3)]
    try:
        for sock in holders:  # three requests in flight, each waiting for its body
            sock.sendall(REQUEST_LINE + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.3)
        started = time.monotonic()
        shed = httpx.post(
            f"{limited.url}/webhooks/stripe", content=b"{}", headers={"Content-Type": "application/json"}
        )
        answered_in = time.monotonic() - started
        health = httpx.get(f"{limited.url}/health")
    finally:
        for sock in holders:
            sock.close()
    assert shed.status_code == 503, shed.text
    assert shed.headers["retry-after"] == "1"
    assert answered_in < 1.0, f"the 503 took {answered_in:.2f}s"
    assert health.status_code == 200, "/health is never shed"
    assert metric_value(httpx.get(f"{limited.url}/metrics").text, "requests_shed_total") >= 1

    client = WebhookClient(limited.url)
    try:
        payment = Payment.new("standard", USER_ID, PACK)
        gateway = GatewaySimulator(readiness_target, client)
        deadline = time.monotonic() + 10
        reply = gateway.send(gateway.capture(payment))
        while reply.status_code == 503 and time.monotonic() < deadline:  # slots free as holders go
            time.sleep(0.1)
            reply = gateway.send(gateway.capture(payment))
        assert_captured(reply, payment.payment_id)
    finally:
        client.close()


# --- logs ---------------------------------------------------------------------------------


def test_each_delivery_is_one_json_log_line_without_secrets(
    launched: LaunchedService, launched_gateway: GatewaySimulator, readiness_target: Target, log_file: Path
) -> None:
    payment, _ = _genuine_capture(launched_gateway)
    forged = launched_gateway.forged_capture(Payment.new("standard", USER_ID, PACK))
    assert launched_gateway.send(forged).status_code == 401
    time.sleep(0.3)
    stderr_lines = [json.loads(line) for line in launched.log().splitlines() if line.startswith("{")]
    file_lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    for lines in (stderr_lines, file_lines):
        mine = [line for line in lines if line.get("event_id") == payment.capture_event_id]
        assert len(mine) == 1, mine
        line = mine[0]
        assert {
            key: line[key] for key in ("gateway", "type", "outcome", "status", "instance", "payment_id")
        } == {
            "gateway": "standard",
            "type": "payment.captured",
            "outcome": "accepted",
            "status": 200,
            "instance": "launched-1",
            "payment_id": payment.payment_id,
        }
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] > 0
        assert any(entry.get("status") == 401 and entry["outcome"] == "rejected" for entry in lines)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    everything = launched.log() + log_file.read_text()
    leaked = [value[:6] for value in secret_values(readiness_target.secrets) if value in everything]
    assert not leaked, f"secrets in the logs: {leaked}"
    assert forged.headers["webhook-signature"] not in everything


# --- the launcher itself ----------------------------------------------------------------


def test_the_launcher_explains_its_settings() -> None:
    done = run_launcher({}, "--help")
    assert done.returncode == 0
    for name in (
        "HTTP_MAX_HEADER_BYTES",
        "HTTP_HEADER_TIMEOUT_S",
        "HTTP_BODY_TIMEOUT_S",
        "HTTP_KEEPALIVE_TIMEOUT_S",
    ):
        assert name in done.stdout


def test_the_launcher_refuses_bad_settings_without_echoing_them() -> None:
    done = run_launcher({"HTTP_HEADER_TIMEOUT_S": "-1"})
    assert done.returncode == 2 and "HTTP_HEADER_TIMEOUT_S" in done.stderr, done.stderr
    sink = run_launcher({"ERROR_SINK_URL": "ftp://ops:sink-password-123@sink.example"})
    assert sink.returncode == 2 and "ERROR_SINK_URL" in sink.stderr, sink.stderr
    assert "sink-password-123" not in sink.stdout + sink.stderr


def test_the_launcher_refuses_a_database_without_the_schema(readiness_target: Target) -> None:
    assert readiness_target.database_url
    with scratch_database(readiness_target.database_url) as url:
        done = run_launcher(_environment(readiness_target, url, PORT="0"))
    assert done.returncode == 3, done.stderr[-2000:]
    assert "no card-pack schema" in done.stderr and "cardpack_service.migrate" in done.stderr


def test_two_workers_answer_as_two_instances(readiness_target: Target, service_db_url: str) -> None:
    service = LaunchedService(_environment(readiness_target, service_db_url, WORKERS="2"))
    service.start()
    try:
        seen: set[str] = set()
        deadline = time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < deadline:
            with httpx.Client(base_url=service.url) as client:  # a new connection each time
                seen.add(client.get("/health").json()["instance"])
    finally:
        service.stop()
    assert len(seen) == 2, f"one instance answered every time: {seen}"
