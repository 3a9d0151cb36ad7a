"""A stand-in for PayPal's REST API (OAuth token + verify-webhook-signature), mounted
with `responses` inside the process that runs the service. It really verifies: a
transmission signature that does not match the body, time, id and webhook id gets
`FAILURE`, exactly as PayPal would answer a forged event.

PayPal's real scheme is SHA256withRSA over `<transmission_id>|<time>|<webhook_id>|
<crc32(body)>`; here the same string is HMAC-SHA256'd with a key the harness holds,
because only PayPal has PayPal's private key. This is the one mock in the harness, and
it mocks only what lives across the network.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
import responses

SANDBOX_API_BASE = "https://api-m.sandbox.paypal.com"


def _canonical(body: bytes | str) -> bytes:
    """Both sides checksum the event's canonical JSON, so transport re-encoding is moot;
    a body that is not JSON is checksummed as it is."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        return body.encode() if isinstance(body, str) else body


def transmission_signature(key: str, transmission_id: str, sent_at: str, webhook_id: str, body: bytes) -> str:
    crc = binascii.crc32(_canonical(body))
    message = f"{transmission_id}|{sent_at}|{webhook_id}|{crc}".encode()
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


@dataclass
class PayPalSandbox:
    client_id: str
    client_secret: str
    webhook_id: str
    api_base: str = SANDBOX_API_BASE
    tokens: set[str] = field(default_factory=set)
    verifications: int = 0

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return 401, {}, json.dumps({"error": "invalid_client"})
        token = "A21AA" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": 32400}
        return 200, {}, json.dumps(body)

    def _verify(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        auth = str(request.headers.get("Authorization", ""))
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            return 401, {}, json.dumps({"error": "invalid_token"})
        self.verifications += 1
        raw = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        envelope: dict[str, Any] = json.loads(raw)
        expected = transmission_signature(
            self.client_secret,
            str(envelope.get("transmission_id")),
            str(envelope.get("transmission_time")),
            str(envelope.get("webhook_id")),
            json.dumps(envelope.get("webhook_event")).encode(),
        )
        ok = envelope.get("webhook_id") == self.webhook_id and hmac.compare_digest(
            expected, str(envelope.get("transmission_sig"))
        )
        return 200, {}, json.dumps({"verification_status": "SUCCESS" if ok else "FAILURE"})

    @contextmanager
    def mounted(self) -> Iterator[responses.RequestsMock]:
        """Intercept calls to `api_base`; every other request passes through untouched."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru(re.compile(r"^(?!" + re.escape(self.api_base) + ").*"))
            mock.add_callback(
                responses.POST,
                f"{self.api_base}/v1/oauth2/token",
                callback=self._token,
                content_type="application/json",
            )
            mock.add_callback(
                responses.POST,
                f"{self.api_base}/v1/notifications/verify-webhook-signature",
                callback=self._verify,
                content_type="application/json",
            )
            yield mock
