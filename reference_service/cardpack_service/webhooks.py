"""The one handler every gateway shares: read, verify, map, record, audit.

Outcomes and statuses (every one is audited except a database outage, which cannot be):
  200 captured / refunded / duplicate / ignored
  401 missing or invalid signature          (rejected)
  400 malformed JSON or payload             (rejected)
  413 body over MAX_BODY_BYTES              (rejected, body never read whole)
  415 content type is not application/json (rejected)
  422 event that cannot be delivered (unknown pack type, missing fields) (rejected)
  503 database, or PayPal's verification API, unavailable: the gateway retries
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from . import db
from .config import Settings
from .events import CAPTURED, IgnoredEvent, InvalidEvent, StandardEvent
from .gateways import GatewayAdapter, GatewayNotConfigured, GatewayUnavailable, SignatureRejected
from .metrics import DEPENDENCY_ERRORS, WEBHOOK_DELIVERIES, WEBHOOK_LATENCY

logger = logging.getLogger(__name__)

Pool = AsyncConnectionPool[AsyncConnection[Any]]


class BodyTooLarge(Exception):
    pass


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (without reading it all) anything over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


class WebhookHandler:
    def __init__(self, gateway: GatewayAdapter, pool: Pool, settings: Settings) -> None:
        self.gateway = gateway
        self.pool = pool
        self.settings = settings
        self._latency = WEBHOOK_LATENCY.labels(gateway.name)

    async def handle(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            response, event_type, outcome = await self._process(request)
        except (OperationalError, PoolTimeout) as exc:
            DEPENDENCY_ERRORS.labels("database").inc()
            logger.warning("database unavailable for %s webhook: %s", self.gateway.name, type(exc).__name__)
            response, event_type, outcome = _unavailable("database unavailable"), None, "error"
        except Exception:
            logger.exception("unexpected error in %s webhook", self.gateway.name)
            try:
                await self._audit(
                    "error",
                    self.gateway.event_id_hint(request.headers),
                    None,
                    None,
                    "internal error",
                )
            except (OperationalError, PoolTimeout):
                logger.warning("could not audit the internal error: database unavailable")
            response = _json(500, {"detail": "internal error"})
            event_type, outcome = None, "error"
        self._latency.observe(time.perf_counter() - started)
        WEBHOOK_DELIVERIES.labels(self.gateway.name, event_type or "unknown", outcome).inc()
        return response

    async def _process(self, request: Request) -> tuple[JSONResponse, str | None, str]:
        headers = request.headers
        hint = self.gateway.event_id_hint(headers)
        raw = b""
        try:
            try:
                raw = await read_limited_body(request, self.settings.max_body_bytes)
            except BodyTooLarge:
                return await self._reject(413, "body too large", hint, None, None)
            if not _is_json(headers.get("content-type")):
                return await self._reject(415, "content type must be application/json", hint, None, None)
            if self.settings.require_webhook_signature:
                if self.gateway.verification_does_io:
                    await run_in_threadpool(self.gateway.verify, raw, headers, self.settings)
                else:  # an HMAC over a <=256 KiB body: cheaper than a thread hop
                    self.gateway.verify(raw, headers, self.settings)
            try:
                payload = json.loads(raw)
            except (UnicodeDecodeError, ValueError):
                return await self._reject(400, "body is not valid JSON", hint, None, None)
            if not isinstance(payload, dict):
                return await self._reject(400, "body must be a JSON object", hint, None, None)
            try:
                event = self.gateway.to_event(payload)
            except (AttributeError, TypeError):  # signed, but fields of the wrong JSON type
                return await self._reject(400, "payload has an unexpected shape", hint, None, None)
            except ValidationError as exc:  # mapped, but a value is out of range or too long
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                return await self._reject(422, f"invalid event: {where}: {error['msg']}", hint, None, None)
            if isinstance(event, IgnoredEvent):
                await self._audit(
                    "ignored",
                    event.id or hint,
                    event.type,
                    event.payment_id,
                    "event type not handled",
                )
                return (
                    _json(200, {"status": "ignored", "event_type": event.type}),
                    event.type,
                    "ignored",
                )
            return await self._record(event)
        except SignatureRejected as exc:
            claimed = self._claimed_identity(raw)
            response, _, outcome = await self._reject(
                401,
                f"signature rejected: {exc.reason}",
                exc.event_id_hint or claimed.id or hint,
                claimed.type,
                claimed.payment_id,
            )
            # The claimed type goes to the audit row only: an unverified body must not
            # mint metric label values (unbounded series).
            return response, None, outcome
        except InvalidEvent as exc:
            return await self._reject(
                exc.status_code, str(exc), exc.event_id or hint, exc.event_type, exc.payment_id
            )
        except GatewayNotConfigured as exc:
            logger.error("%s webhook refused: %s", self.gateway.name, exc)
            await self._audit("error", hint, None, None, f"not configured: {exc}")
            return (
                _json(503, {"detail": f"{self.gateway.name} webhooks are not configured"}),
                None,
                "error",
            )
        except GatewayUnavailable as exc:
            DEPENDENCY_ERRORS.labels(self.gateway.name).inc()
            logger.warning("%s verification unavailable: %s", self.gateway.name, exc)
            await self._audit("error", hint, None, None, str(exc))
            return _unavailable("payment gateway verification unavailable"), None, "error"

    def _claimed_identity(self, raw: bytes) -> IgnoredEvent:
        """What an unverified body claims to be, for the audit trail only (never acted on)."""
        try:
            payload = json.loads(raw)
            event = self.gateway.to_event(payload) if isinstance(payload, dict) else None
        except Exception:  # an unverified body may have any shape: audit it as unknown
            event = None
        if event is None:
            return IgnoredEvent(id="", type="unknown")
        return IgnoredEvent(id=event.id, type=event.type, payment_id=event.payment_id)

    async def _record(self, event: StandardEvent) -> tuple[JSONResponse, str | None, str]:
        if event.type == CAPTURED:
            return await self._capture(event)
        return await self._refund(event)

    async def _capture(self, event: StandardEvent) -> tuple[JSONResponse, str | None, str]:
        if not event.user_id or not event.pack_type:
            return await self._reject(
                422, "a capture needs user_id and pack_type", event.id, event.type, event.payment_id
            )
        result = await db.record_capture(
            self.pool,
            gateway=self.gateway.name,
            event_id=event.id,
            event_type=event.type,
            payment_id=event.payment_id,
            user_id=event.user_id,
            pack_type=event.pack_type,
            amount=event.amount,
            currency=event.currency,
        )
        if result.outcome == "rejected":
            body = {"detail": f"unknown pack type {event.pack_type!r}", "payment_id": event.payment_id}
            return _json(422, body), event.type, "rejected"
        if result.outcome == "duplicate":
            return _duplicate(event, result), event.type, "duplicate"
        return (
            _json(
                200,
                {
                    "status": "captured",
                    "payment_id": event.payment_id,
                    "user_id": event.user_id,
                    "pack_type": event.pack_type,
                    "result": {
                        # "refunded": the payment's refund arrived first; nothing live was delivered.
                        "status": "completed" if result.purchase_status == "active" else "refunded",
                        "cards_created": result.count,
                        "purchase_id": result.purchase_id,
                    },
                },
            ),
            event.type,
            "accepted",
        )

    async def _refund(self, event: StandardEvent) -> tuple[JSONResponse, str | None, str]:
        result = await db.record_refund(
            self.pool,
            gateway=self.gateway.name,
            event_id=event.id,
            event_type=event.type,
            payment_id=event.payment_id,
        )
        if result.outcome == "duplicate":
            return _duplicate(event, result), event.type, "duplicate"
        return (
            _json(
                200,
                {
                    "status": "refunded",
                    "payment_id": event.payment_id,
                    "result": {"cards_revoked": result.count, "purchase_id": result.purchase_id},
                },
            ),
            event.type,
            "accepted",
        )

    async def _reject(
        self,
        status: int,
        detail: str,
        event_id: str | None,
        event_type: str | None,
        payment_id: str | None,
    ) -> tuple[JSONResponse, str | None, str]:
        await self._audit("rejected", event_id, event_type, payment_id, detail)
        return _json(status, {"detail": detail}), event_type, "rejected"

    async def _audit(
        self,
        outcome: str,
        event_id: str | None,
        event_type: str | None,
        payment_id: str | None,
        detail: str,
    ) -> None:
        await db.append_audit(
            self.pool,
            gateway=self.gateway.name,
            outcome=outcome,
            event_id=event_id,
            event_type=event_type,
            payment_id=payment_id,
            detail=detail,
        )


def _duplicate(event: StandardEvent, result: db.RecordResult) -> JSONResponse:
    return _json(
        200,
        {
            "status": "duplicate",
            "payment_id": event.payment_id,
            "event_id": event.id,
            "purchase_id": result.purchase_id,
            "purchase_status": result.purchase_status,
        },
    )


def _json(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(status_code=status, content=body)


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(status_code=503, content={"detail": detail}, headers={"Retry-After": "5"})
