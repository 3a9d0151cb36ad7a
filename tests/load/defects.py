"""A defective service for the load tests: a real HTTP proxy in front of the reference
service that adds one defect (slow captures, a share of 500s, early refunds dropped,
purchases that read as two packs). Lives in the tests, never in the service's code."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

READINESS = str(Path(sys.executable).with_name("readiness"))


@dataclass
class Defect:
    capture_delay_s: float = 0.0
    fail_every: int = 0
    """Answer 500 to every n-th webhook delivery without forwarding it."""
    drop_early_refunds: bool = False
    doubled_packs: bool = False
    seen: set[str] = field(default_factory=set)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class DefectiveProxy:
    def __init__(self, upstream: str, defect: Defect, verify: Any = True) -> None:
        self.upstream = upstream.rstrip("/")
        self.defect = defect
        self.client = httpx.Client(base_url=self.upstream, verify=verify, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str, body: bytes | None = None) -> httpx.Response:
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                return proxy.client.request(method, self.path, content=body, headers=headers)

            def do_GET(self) -> None:
                response = self._forward("GET")
                content = response.content
                if (
                    proxy.defect.doubled_packs
                    and self.path.startswith("/purchases/")
                    and response.status_code == 200
                ):
                    purchase = response.json()
                    purchase["cards"] = purchase["cards"] * 2
                    content = json.dumps(purchase).encode()
                self._answer(
                    response.status_code, content, response.headers.get("content-type", "text/plain")
                )

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                defect = proxy.defect
                text = body.decode(errors="replace")
                refund = "refund" in text.lower()
                with defect.lock:
                    defect.count += 1
                    nth = defect.count
                if defect.fail_every and nth % defect.fail_every == 0:
                    self._answer(500, b'{"detail":"internal error"}')
                    return
                if defect.drop_early_refunds and refund and not any(p in text for p in defect.seen):
                    self._answer(200, b'{"status":"ignored"}')
                    return
                if not refund:
                    defect.capture_delay_s and time.sleep(defect.capture_delay_s)
                    for token in _payment_ids(body):
                        defect.seen.add(token)
                response = self._forward("POST", body)
                self._answer(response.status_code, response.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> DefectiveProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.client.close()


def _payment_ids(body: bytes) -> list[str]:
    """The payment ids a capture body names (standard, Stripe or PayPal shape)."""
    try:
        event = json.loads(body)
    except ValueError:
        return []
    found = [event.get("payment_id")]
    obj = (event.get("data") or {}).get("object") or event.get("resource") or {}
    found += [obj.get("id"), obj.get("payment_intent")]
    return [value for value in found if isinstance(value, str)]
