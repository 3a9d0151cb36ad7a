"""uvicorn's httptools protocol, with header limits and read timeouts.

What uvicorn itself does (0.5x, read in `uvicorn/protocols/http/httptools_impl.py`):
no limit on header size or count (httptools buffers a header of any length), and no
timer while a request is being read: its only timer is the keep-alive one, armed after a
response and cancelled by the first byte of the next request, and a fresh connection
has none at all. So a client that sends nothing, half a header, or one body byte a
second keeps its connection (and, once the headers are in, a request slot) forever.

`GuardedHttpToolsProtocol` adds, per connection:

- a header read timeout: from the connection's start (or the next request's first
  byte) to the end of its headers; a request half sent gets 408, an idle new connection
  is closed;
- a body read timeout: from the end of the headers to the end of the body; 408, and the
  application reading the body sees the client disconnect;
- header limits: at most `max_header_bytes` of request line and headers and at most
  `max_headers` header fields; beyond either, 431 (counted as the bytes arrive, so a
  huge header is refused after one read, not buffered whole).

Every refusal says `connection: close`, half-closes the connection and drops whatever
the client still sends for `linger_s` before closing it (so the client reads the answer
instead of a reset), and is logged at INFO without any request data.
"""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    linger_s: float = 2.0


class GuardedConfig(uvicorn.Config):
    """uvicorn's Config with `http_limits`, served by GuardedHttpToolsProtocol (pickled
    whole to each worker process, limits included)."""

    def __init__(self, *args: Any, http_limits: HttpLimits, **kwargs: Any) -> None:
        self.http_limits = http_limits
        kwargs["http"] = GuardedHttpToolsProtocol
        super().__init__(*args, **kwargs)


class _HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing (httptools re-raises it wrapped)."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: HttpLimits = getattr(config, "http_limits", HttpLimits())
        self._timer: asyncio.TimerHandle | None = None
        self._in_headers = True
        self._request_started = False
        self._header_bytes = 0
        self._header_fields = 0
        self._header_size = 0
        self._too_large = False
        self._refused = False

    # --- timers ---------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _in_flight(self) -> RequestResponseCycle | None:
        """The cycle whose response is still being produced, if any."""
        cycle = self.cycle
        return cycle if cycle is not None and not cycle.response_complete else None

    def _headers_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if not self._request_started and self._in_flight() is None:
            self.transport.close()  # an idle connection: nothing to answer
            return
        self._refuse_headers(408, "request headers not received in time")

    def _body_timed_out(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self._refuse(408, "request body not received in time", self.cycle)

    # --- uvicorn's protocol hooks ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm(self.limits.header_timeout_s, self._headers_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # answered already: drop the rest until the connection closes
        self._unset_keepalive_if_required()
        if self._in_headers:
            self._header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._too_large:
                self._refuse_headers(431, "request header fields too large")
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes and not self._refused:
            self._refuse_headers(431, "request header fields too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        self._request_started = True
        self._header_bytes = self._header_fields = self._header_size = 0
        if self._timer is None:
            self._arm(self.limits.header_timeout_s, self._headers_timed_out)

    def on_url(self, url: bytes) -> None:
        self._count(len(url), fields=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, fields=1)
        super().on_header(name, value)

    def _count(self, size: int, fields: int) -> None:
        self._header_size += size
        self._header_fields += fields
        if self._header_size > self.limits.max_header_bytes or self._header_fields > self.limits.max_headers:
            self._too_large = True
            raise _HeadersTooLarge

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._disarm()
        super().on_headers_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        super()._start_asgi_task(cycle, app)
        if cycle.more_body and not self._refused:  # the body is still to come
            self._arm(self.limits.body_timeout_s, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers = True
        self._request_started = False
        super().on_message_complete()

    # --- refusals -------------------------------------------------------------------

    def _refuse_headers(self, status: int, reason: str) -> None:
        """A request refused while its headers were read (it has no cycle yet)."""
        earlier = self._in_flight()
        if earlier is not None:
            # Pipelined behind a request still being answered: finish that answer, then
            # close, and read nothing more (an answer now would interleave with it).
            logger.info("HTTP %s after the response in flight: %s", status, reason)
            earlier.keep_alive = False
            self._refused = True
            self._disarm()
            return
        self._refuse(status, reason, None)

    def _refuse(self, status: int, reason: str, cycle: RequestResponseCycle | None) -> None:
        """Answer `status` (unless `cycle`'s response has begun), then close after a linger."""
        self._refused = True
        self._disarm()
        logger.info("HTTP %s: %s", status, reason)
        if cycle is not None and not cycle.response_complete:
            # The application reading this request sees the client go away, and whatever it
            # answers now goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        if cycle is None or not cycle.response_started:
            self.transport.write(_plain_response(status, reason, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(self.limits.linger_s, self.transport.close)
        else:
            self.transport.close()
        self.flow.resume_reading()  # keep draining (and dropping) while lingering


def _plain_response(status: int, reason: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = reason.encode("ascii")
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode("ascii")]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)
