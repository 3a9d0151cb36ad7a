"""A small HTTP server on loopback that records the JSON documents POSTed to it.

The alert receiver (Alertmanager's webhooks) and the error sink (the service's error
reports) are both this: a thread serving `127.0.0.1:<free port>`, answering only callers
that present the run's random token (as a bearer token, or as the first path segment
for clients that can only be given a URL), keeping every document with its path and the
time it arrived. Nothing else on the machine can read what it recorded.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from readiness_harness.settings.secrets import Secret

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Received:
    path: str
    """The path after the token (for example `/receivers/oncall-pager`)."""
    document: Any
    at: float
    """Unix time it arrived."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (a service past its own timeout) is
        its business, not a traceback on the run's console; anything else is reported."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class RecordingServer:
    """Records JSON POSTs that carry the token; answers 401 to anything else."""

    name = "recording server"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.token = Secret(secrets.token_urlsafe(24))
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._arrived = threading.Condition(self._lock)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "readiness-recorder"

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("%s: " + format, owner.name, *args)

            def do_POST(self) -> None:
                path = owner._authorized_path(self.path, self.headers.get("Authorization", ""))
                if path is None:
                    self._answer(401)
                    return
                length = self.headers.get("Content-Length", "")
                if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                    self._answer(413)
                    return
                try:
                    document = json.loads(self.rfile.read(int(length)))
                except ValueError:
                    self._answer(400)
                    return
                owner._record(Received(path, document, time.time()))
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = _Server((host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{shown}:{port}"

    def _authorized_path(self, raw_path: str, authorization: str) -> str | None:
        path = raw_path.split("?", 1)[0]
        token = self.token.reveal()
        if hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            return path
        first, _, rest = path.lstrip("/").partition("/")
        if hmac.compare_digest(first.encode(), token.encode()):
            return "/" + rest
        return None

    def _record(self, received: Received) -> None:
        with self._arrived:
            self._received.append(received)
            self._arrived.notify_all()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait(self, match: Callable[[Received], bool], timeout: float) -> Received | None:
        """The first document (already here or arriving within `timeout`) that matches."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for item in self._received:
                    if match(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._arrived.wait(remaining)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
