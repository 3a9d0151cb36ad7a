"""Unhandled errors: counted in `unhandled_errors_total`, and reported to ERROR_SINK_URL.

A report is one JSON POST:

  {"service": "cardpack-service", "version": "0.1.0", "instance": "web-1:4242",
   "time": "...", "route": "stripe", "method": "POST", "path": "/webhooks/stripe",
   "event_id": "evt_...", "exception": "UndefinedFunction", "message": "...",
   "traceback": [{"file": "cardpack_service/db.py", "line": 110, "function": "work"}, ...]}

No secrets, headers, bodies or local variables; the message passes through the
Redactor. Sending never delays or fails the request that hit the error: reports go out
from background tasks with a short timeout, at most MAX_PENDING at a time (more are
dropped and counted), and a sink that is down only costs a warning and a metric.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import httpx

from .. import __version__
from ..config import Settings
from ..metrics import ERROR_REPORTS, UNHANDLED_ERRORS
from .redaction import Redactor

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 3.0
MAX_PENDING = 16
TRACEBACK_FRAMES = 20


class ErrorReporter:
    def __init__(self, settings: Settings) -> None:
        self._url = settings.error_sink_url.get_secret_value() if settings.error_sink_url else None
        self._instance = settings.instance()
        self._redact = Redactor(settings.secret_values())
        self._client: httpx.AsyncClient | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def configured(self) -> bool:
        return self._url is not None

    def report(
        self,
        exc: BaseException,
        *,
        route: str,
        method: str,
        path: str,
        event_id: str | None = None,
    ) -> None:
        """Count the error, and (with a sink) queue its report. Returns at once."""
        UNHANDLED_ERRORS.labels(route).inc()
        if self._url is None:
            return
        if len(self._pending) >= MAX_PENDING:
            ERROR_REPORTS.labels("dropped").inc()
            return
        task = asyncio.get_running_loop().create_task(
            self._send(self._payload(exc, route=route, method=method, path=path, event_id=event_id))
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _payload(
        self, exc: BaseException, *, route: str, method: str, path: str, event_id: str | None
    ) -> dict[str, Any]:
        frames = traceback.extract_tb(exc.__traceback__)[-TRACEBACK_FRAMES:]
        return {
            "service": "cardpack-service",
            "version": __version__,
            "instance": self._instance,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "route": route,
            "method": method,
            "path": self._redact(path)[:300],
            "event_id": self._redact(event_id)[:255] if event_id else None,
            "exception": type(exc).__name__,
            "message": self._redact(str(exc))[:1000],
            "traceback": [
                {"file": _short_path(frame.filename), "line": frame.lineno, "function": frame.name}
                for frame in frames
            ],
        }

    async def _send(self, payload: dict[str, Any]) -> None:
        assert self._url is not None  # nosec B101 # type narrowing: only called with a URL
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=SEND_TIMEOUT_S, follow_redirects=False)
        try:
            response = await self._client.post(self._url, json=payload)
            response.raise_for_status()
        except (httpx.HTTPError, OSError) as exc:
            ERROR_REPORTS.labels("failed").inc()
            logger.warning("could not report an error to the error sink: %s", type(exc).__name__)
            return
        ERROR_REPORTS.labels("sent").inc()

    async def aclose(self, timeout: float = SEND_TIMEOUT_S) -> None:
        """Let pending reports finish (up to `timeout`), then close the client."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)
        for task in list(self._pending):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _short_path(filename: str) -> str:
    """Paths from the package or site-packages down, not the machine's layout."""
    for marker in ("/site-packages/", "/cardpack_service/"):
        if marker in filename:
            _, _, tail = filename.rpartition(marker)
            return ("cardpack_service/" if marker == "/cardpack_service/" else "") + tail
    return filename.rsplit("/", 1)[-1]
