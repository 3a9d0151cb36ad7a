"""A stand-in for PayPal's REST API, as a real HTTP server any deployment can use.

It answers the two calls a webhook receiver makes: `POST /v1/oauth2/token` (client
credentials) and `POST /v1/notifications/verify-webhook-signature`. It really verifies:
a transmission signature that does not match the body, time, transmission id and
webhook id gets `FAILURE`, exactly as PayPal answers a forged event.

PayPal's own scheme is SHA256withRSA with PayPal's private key over
`<transmission_id>|<time>|<webhook_id>|<crc32(body)>`; only PayPal holds that key, so the
stand-in verifies an HMAC-SHA256 of the same string keyed with the client secret the
harness signs with. Point a deployment's `PAYPAL_API_BASE` at `api_base` (and give it the
printed client id, client secret and webhook id) and the harness can send it PayPal
events it will accept. This is the one stand-in in the harness, for the one thing that
lives across the network.

    with PayPalSandbox(credentials) as sandbox:
        sandbox.api_base     # http://127.0.0.1:PORT
        sandbox.verifications  # verify calls answered so far
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from readiness_harness.settings.secrets import Secret

logger = logging.getLogger(__name__)

TOKEN_PATH = "/v1/oauth2/token"  # noqa: S105  # nosec B105 # a URL path, not a password
TOKEN_TYPE = "Bearer"  # noqa: S105  # nosec B105 # OAuth's token type, not a password
VERIFY_PATH = "/v1/notifications/verify-webhook-signature"
MAX_REQUEST_BYTES = 1024 * 1024
TOKEN_LIFETIME_S = 32400


def _canonical(body: bytes | str) -> bytes:
    """Both sides checksum the event's canonical JSON, so transport re-encoding is moot;
    a body that is not JSON is checksummed as it is."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return body.encode() if isinstance(body, str) else body


def transmission_signature(key: str, transmission_id: str, sent_at: str, webhook_id: str, body: bytes) -> str:
    """The stand-in's transmission signature over PayPal's signed string."""
    crc = binascii.crc32(_canonical(body))
    message = f"{transmission_id}|{sent_at}|{webhook_id}|{crc}".encode()
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class SandboxCredentials:
    """What a deployment is configured with to use the stand-in (and the harness signs with)."""

    client_id: str
    client_secret: Secret
    webhook_id: str


class _State:
    def __init__(self, credentials: SandboxCredentials) -> None:
        self.credentials = credentials
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.verifications = 0
        self.failures = 0
        self.delay_s = 0.0
        self.unavailable = False


class _Handler(BaseHTTPRequestHandler):
    server_version = "readiness-paypal-sandbox"
    state: _State  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("paypal sandbox: " + format, *args)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_REQUEST_BYTES:
            self._reply(413 if length.isdigit() else 411, {"error": "invalid_request"})
            return None
        return self.rfile.read(int(length))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if body is None:
            return
        if path == TOKEN_PATH:
            self._token()
        elif path == VERIFY_PATH:
            self._verify(body)
        else:
            self._reply(404, {"name": "RESOURCE_NOT_FOUND"})

    def _token(self) -> None:
        credentials = self.state.credentials
        expected = base64.b64encode(
            f"{credentials.client_id}:{credentials.client_secret.reveal()}".encode()
        ).decode()
        presented = self.headers.get("Authorization", "")
        if not hmac.compare_digest(presented.encode(), f"Basic {expected}".encode()):
            self._reply(401, {"error": "invalid_client", "error_description": "Client Authentication failed"})
            return
        token = "A21AA" + secrets.token_urlsafe(24)
        with self.state.lock:
            self.state.tokens.add(token)
        self._reply(200, {"access_token": token, "token_type": TOKEN_TYPE, "expires_in": TOKEN_LIFETIME_S})

    def _verify(self, raw: bytes) -> None:
        with self.state.lock:
            delay, unavailable = self.state.delay_s, self.state.unavailable
        if delay:
            time.sleep(delay)
        if unavailable:
            self._reply(503, {"name": "SERVICE_UNAVAILABLE", "message": "verification is unavailable"})
            return
        auth = self.headers.get("Authorization", "")
        with self.state.lock:
            known = auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.state.tokens
        if not known:
            self._reply(401, {"error": "invalid_token"})
            return
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError):
            self._reply(400, {"name": "INVALID_REQUEST", "message": "request body is not JSON"})
            return
        if not isinstance(envelope, dict):
            self._reply(400, {"name": "INVALID_REQUEST", "message": "request body is not an object"})
            return
        credentials = self.state.credentials
        expected = transmission_signature(
            credentials.client_secret.reveal(),
            str(envelope.get("transmission_id")),
            str(envelope.get("transmission_time")),
            str(envelope.get("webhook_id")),
            json.dumps(envelope.get("webhook_event")).encode(),
        )
        ok = envelope.get("webhook_id") == credentials.webhook_id and hmac.compare_digest(
            expected.encode(), str(envelope.get("transmission_sig")).encode()
        )
        with self.state.lock:
            self.state.verifications += 1
            self.state.failures += 0 if ok else 1
        self._reply(200, {"verification_status": "SUCCESS" if ok else "FAILURE"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    """A burst of concurrent deliveries verifies concurrently: the default backlog of 5
    would refuse connections under a 25-delivery storm (the service then answers 503)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (a service past its own timeout) is
        its business, not a traceback on the run's console; anything else is reported."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class PayPalSandbox:
    """The stand-in serving on `host:port` (port 0: a free one) in a background thread."""

    def __init__(self, credentials: SandboxCredentials, host: str = "127.0.0.1", port: int = 0) -> None:
        self.credentials = credentials
        self._state = _State(credentials)
        handler = type("SandboxHandler", (_Handler,), {"state": self._state})
        self._server = _Server((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="paypal-sandbox", daemon=True)

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def verifications(self) -> int:
        with self._state.lock:
            return self._state.verifications

    def start(self) -> PayPalSandbox:
        self._thread.start()
        logger.info("PayPal sandbox at %s", self.api_base)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    @contextlib.contextmanager
    def degraded(self, delay_s: float = 0.0, unavailable: bool = False) -> Iterator[None]:
        """PayPal's verify call slow (`delay_s` before answering) or failing (503) for the
        block, as when PayPal's API has an incident; normal again afterwards, whatever
        happens. OAuth tokens keep working: only verification is affected."""
        with self._state.lock:
            self._state.delay_s, self._state.unavailable = delay_s, unavailable
        try:
            yield
        finally:
            with self._state.lock:
                self._state.delay_s, self._state.unavailable = 0.0, False

    def __enter__(self) -> PayPalSandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def service_environment(self) -> dict[str, str]:
        """What a deployment's environment needs to verify its PayPal deliveries here."""
        return {
            "PAYPAL_API_BASE": self.api_base,
            "PAYPAL_CLIENT_ID": self.credentials.client_id,
            "PAYPAL_CLIENT_SECRET": self.credentials.client_secret.reveal(),
            "PAYPAL_WEBHOOK_ID": self.credentials.webhook_id,
        }
