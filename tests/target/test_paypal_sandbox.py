"""The PayPal API stand-in as a real HTTP server: OAuth, verification, and its command."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from readiness_harness.gateways.paypal_sandbox import (
    PayPalSandbox,
    SandboxCredentials,
    transmission_signature,
)
from readiness_harness.settings.secrets import Secret

READINESS = str(Path(sys.executable).with_name("readiness"))


@pytest.fixture
def sandbox() -> Iterator[PayPalSandbox]:
    with PayPalSandbox(SandboxCredentials("client-1", Secret("s3cret-value-xyz"), "WH-1")) as running:
        yield running


CLIENT_SECRET = "s3cret-value-xyz"


def token(sandbox: PayPalSandbox, client_secret: str = CLIENT_SECRET) -> httpx.Response:
    basic = base64.b64encode(f"client-1:{client_secret}".encode()).decode()
    return httpx.post(
        f"{sandbox.api_base}/v1/oauth2/token",
        headers={"Authorization": f"Basic {basic}"},
        content=b"grant_type=client_credentials",
    )


def verify(sandbox: PayPalSandbox, access: str, event: dict[str, object], signature: str) -> httpx.Response:
    envelope = {
        "transmission_id": "t-1",
        "transmission_time": "2026-12-01T10:00:00Z",
        "transmission_sig": signature,
        "webhook_id": "WH-1",
        "webhook_event": event,
    }
    return httpx.post(
        f"{sandbox.api_base}/v1/notifications/verify-webhook-signature",
        headers={"Authorization": f"Bearer {access}"},
        content=json.dumps(envelope).encode(),
    )


def test_only_the_configured_client_gets_a_token(sandbox: PayPalSandbox) -> None:
    assert token(sandbox, "wrong").status_code == 401
    reply = token(sandbox)
    assert reply.status_code == 200 and reply.json()["access_token"]


def test_a_matching_signature_verifies_and_any_change_fails(sandbox: PayPalSandbox) -> None:
    access = token(sandbox).json()["access_token"]
    event = {"id": "WH-EVT-1", "event_type": "PAYMENT.CAPTURE.COMPLETED"}
    body = json.dumps(event).encode()
    good = transmission_signature("s3cret-value-xyz", "t-1", "2026-12-01T10:00:00Z", "WH-1", body)
    assert verify(sandbox, access, event, good).json() == {"verification_status": "SUCCESS"}
    assert verify(sandbox, access, {**event, "id": "WH-EVT-2"}, good).json() == {
        "verification_status": "FAILURE"
    }
    forged = transmission_signature("another-key", "t-1", "2026-12-01T10:00:00Z", "WH-1", body)
    assert verify(sandbox, access, event, forged).json() == {"verification_status": "FAILURE"}
    assert verify(sandbox, "not-a-token", event, good).status_code == 401
    assert sandbox.verifications == 3


def test_the_command_prints_where_it_is_and_keeps_the_secret_in_a_private_file() -> None:
    env = {**os.environ, "PAYPAL_CLIENT_SECRET": "canary-paypal-secret-123"}
    with subprocess.Popen(
        [READINESS, "paypal-sandbox"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        printed: dict[str, str] = {}
        try:
            for line in process.stdout:
                if line.startswith("ready"):
                    break
                name, _, value = line.strip().partition("=")
                printed[name] = value
            settings_file = Path(printed["PAYPAL_SETTINGS_FILE"].split()[0])
            assert settings_file.stat().st_mode & 0o777 == 0o600
            assert "PAYPAL_CLIENT_SECRET=canary-paypal-secret-123" in settings_file.read_text()
            assert httpx.post(f"{printed['PAYPAL_API_BASE']}/v1/oauth2/token").status_code == 401
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=30)
        stderr = process.stderr.read()
    assert code == 130
    assert "canary-paypal-secret-123" not in "".join(printed.values()) + stderr
    assert not settings_file.exists()
