"""The one handler every gateway shares: read, verify, map, record, audit.

Outcomes and statuses (every one is audited except a database outage, which cannot be,
and a sender that went away mid-body, which left nothing to record):
  200 captured / refunded / duplicate / ignored
  401 missing or invalid signature          (rejected)
  400 malformed JSON or payload (bad syntax, bad UTF-8, nested too deep) (rejected)
  413 body over MAX_BODY_BYTES              (rejected, body never read whole)
  415 content type is not application/json (rejected)
  422 event that cannot be delivered (unknown pack type, missing fields, a value out of
      range, a refund for a payment only another gateway knows) (rejected)
  503 database, or PayPal's verification API, unavailable: the gateway retries

Deliveries refused before their signature was verified are audited within the
AuditBudget (the first N per gateway and interval in full, the rest aggregated).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from . import db
from .audit_budget import AuditBudget
from .config import Settings
from .events import CAPTURED, IgnoredEvent, InvalidEvent, StandardEvent
from .gateways import GatewayAdapter, GatewayNotConfigured, GatewayUnavailable, SignatureRejected
from .metrics import CLIENT_DISCONNECTS, DEPENDENCY_ERRORS, WEBHOOK_DELIVERIES, WEBHOOK_LATENCY
from .observability.error_sink import ErrorReporter
from .observability.logs import log_delivery
from .payload import MalformedJson, parse_json

logger = logging.getLogger(__name__)

Pool = AsyncConnectionPool[AsyncConnection[Any]]

CLAIM_PARSE_LIMIT = 64 * 1024
"""Unverified bodies up to this size are parsed for the audit row's claimed identity."""


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


@dataclass(frozen=True)
class Result:
    """What one delivery came to: the answer, and what the metrics and the log say."""

    response: JSONResponse
    outcome: str
    event_type: str | None = None
    event_id: str | None = None
    payment_id: str | None = None
    labelled_type: bool = True
    """False: `event_type` is only claimed by an unverified body, so it must not become a
    metric label value (that would let anyone mint new series)."""


class WebhookHandler:
    def __init__(
        self,
        gateway: GatewayAdapter,
        pool: Pool,
        settings: Settings,
        budget: AuditBudget,
        reporter: ErrorReporter,
    ) -> None:
        self.gateway = gateway
        self.pool = pool
        self.settings = settings
        self.budget = budget
        self.reporter = reporter
        self._latency = WEBHOOK_LATENCY.labels(gateway.name)

    async def handle(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            result = await self._process(request)
        except ClientDisconnect:
            # The sender hung up (or was cut off by the body read timeout) before the body
            # was in: nothing was verified or recorded, and there is no one to answer.
            CLIENT_DISCONNECTS.labels(self.gateway.name).inc()
            logger.debug("%s webhook sender disconnected before the body was read", self.gateway.name)
            return _json(400, {"detail": "client disconnected"})
        except (OperationalError, PoolTimeout) as exc:
            DEPENDENCY_ERRORS.labels("database").inc()
            logger.warning("database unavailable for %s webhook: %s", self.gateway.name, type(exc).__name__)
            result = Result(_unavailable("database unavailable"), "error")
        except Exception as exc:
            result = await self._internal_error(request, exc)
        elapsed = time.perf_counter() - started
        self._latency.observe(elapsed)
        labelled = result.event_type if result.labelled_type else None
        WEBHOOK_DELIVERIES.labels(self.gateway.name, labelled or "unknown", result.outcome).inc()
        log_delivery(
            event_id=result.event_id,
            gateway=self.gateway.name,
            event_type=result.event_type,
            outcome=result.outcome,
            status=result.response.status_code,
            latency_s=elapsed,
            payment_id=result.payment_id,
        )
        return result.response

    async def _internal_error(self, request: Request, exc: Exception) -> Result:
        logger.exception("unexpected error in %s webhook", self.gateway.name)
        hint = self.gateway.event_id_hint(request.headers)
        self.reporter.report(
            exc, route=self.gateway.name, method="POST", path=request.url.path, event_id=hint
        )
        try:
            await self._audit("error", hint, None, None, "internal error")
        except (OperationalError, PoolTimeout):
            logger.warning("could not audit the internal error: database unavailable")
        return Result(_json(500, {"detail": "internal error"}), "error", event_id=hint)

    async def _process(self, request: Request) -> Result:
        headers = request.headers
        hint = self.gateway.event_id_hint(headers)
        raw = b""
        verified = False
        try:
            try:
                raw = await read_limited_body(request, self.settings.max_body_bytes)
            except BodyTooLarge:
                return await self._refuse_unverified(413, "body too large", hint, b"")
            if not _is_json(headers.get("content-type")):
                return await self._refuse_unverified(415, "content type must be application/json", hint, raw)
            if self.settings.require_webhook_signature:
                if self.gateway.verification_does_io:
                    await run_in_threadpool(self.gateway.verify, raw, headers, self.settings)
                else:  # an HMAC over a <=256 KiB body: cheaper than a thread hop
                    self.gateway.verify(raw, headers, self.settings)
            verified = True
            try:
                payload = parse_json(raw)
            except MalformedJson as exc:
                return await self._reject(400, str(exc), hint, None, None)
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
                    "ignored", event.id or hint, event.type, event.payment_id, "event type not handled"
                )
                return Result(
                    _json(200, {"status": "ignored", "event_type": event.type}),
                    "ignored",
                    event.type,
                    event.id or hint,
                    event.payment_id,
                )
            return await self._record(event)
        except SignatureRejected as exc:
            return await self._refuse_unverified(
                401, f"signature rejected: {exc.reason}", exc.event_id_hint or hint, raw
            )
        except InvalidEvent as exc:
            if not verified:  # refused by the adapter's checks before verification
                return await self._refuse_unverified(exc.status_code, str(exc), exc.event_id or hint, b"")
            return await self._reject(
                exc.status_code, str(exc), exc.event_id or hint, exc.event_type, exc.payment_id
            )
        except GatewayNotConfigured as exc:
            logger.error("%s webhook refused: %s", self.gateway.name, exc)
            if self.budget.admit(self.gateway.name, 503):
                await self._audit("error", hint, None, None, f"not configured: {exc}")
            detail = f"{self.gateway.name} webhooks are not configured"
            return Result(_json(503, {"detail": detail}), "error", event_id=hint)
        except GatewayUnavailable as exc:
            DEPENDENCY_ERRORS.labels(self.gateway.name).inc()
            logger.warning("%s verification unavailable: %s", self.gateway.name, exc)
            if self.budget.admit(self.gateway.name, 503):
                await self._audit("error", hint, None, None, str(exc))
            return Result(_unavailable("payment gateway verification unavailable"), "error", event_id=hint)

    async def _refuse_unverified(self, status: int, detail: str, event_id: str | None, raw: bytes) -> Result:
        """A refusal before the signature was verified: audited within the budget, with
        what the body claims to be (never acted on, never a metric label)."""
        claimed = IgnoredEvent(id="", type="unknown")
        if self.budget.admit(self.gateway.name, status):
            claimed = self._claimed_identity(raw)
            await self._audit(
                "rejected", event_id or claimed.id or None, claimed.type, claimed.payment_id, detail
            )
        return Result(
            _json(status, {"detail": detail}),
            "rejected",
            claimed.type,
            event_id or claimed.id or None,
            claimed.payment_id,
            labelled_type=False,
        )

    def _claimed_identity(self, raw: bytes) -> IgnoredEvent:
        """What an unverified body claims to be, for the audit trail only (never acted on)."""
        if not raw or len(raw) > CLAIM_PARSE_LIMIT:
            return IgnoredEvent(id="", type="unknown")
        try:
            payload = parse_json(raw)
            event = self.gateway.to_event(payload) if isinstance(payload, dict) else None
        except Exception:  # an unverified body may have any shape: audit it as unknown
            event = None
        if event is None:
            return IgnoredEvent(id="", type="unknown")
        return IgnoredEvent(id=event.id, type=event.type, payment_id=event.payment_id)

    async def _record(self, event: StandardEvent) -> Result:
        if event.type == CAPTURED:
            return await self._capture(event)
        return await self._refund(event)

    async def _capture(self, event: StandardEvent) -> Result:
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
            body: dict[str, Any] = {
                "detail": f"unknown pack type {event.pack_type!r}",
                "payment_id": event.payment_id,
            }
            return Result(_json(422, body), "rejected", event.type, event.id, event.payment_id)
        if result.outcome == "duplicate":
            return Result(_duplicate(event, result), "duplicate", event.type, event.id, event.payment_id)
        body = {
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
        }
        return Result(_json(200, body), "accepted", event.type, event.id, event.payment_id)

    async def _refund(self, event: StandardEvent) -> Result:
        result = await db.record_refund(
            self.pool,
            gateway=self.gateway.name,
            event_id=event.id,
            event_type=event.type,
            payment_id=event.payment_id,
        )
        if result.outcome == "rejected":
            body: dict[str, Any] = {
                "detail": "payment belongs to another gateway",
                "payment_id": event.payment_id,
            }
            return Result(_json(422, body), "rejected", event.type, event.id, event.payment_id)
        if result.outcome == "duplicate":
            return Result(_duplicate(event, result), "duplicate", event.type, event.id, event.payment_id)
        body = {
            "status": "refunded",
            "payment_id": event.payment_id,
            "result": {"cards_revoked": result.count, "purchase_id": result.purchase_id},
        }
        return Result(_json(200, body), "accepted", event.type, event.id, event.payment_id)

    async def _reject(
        self,
        status: int,
        detail: str,
        event_id: str | None,
        event_type: str | None,
        payment_id: str | None,
    ) -> Result:
        """A refusal of a verified delivery: always audited in full."""
        await self._audit("rejected", event_id, event_type, payment_id, detail)
        return Result(_json(status, {"detail": detail}), "rejected", event_type, event_id, payment_id)

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
