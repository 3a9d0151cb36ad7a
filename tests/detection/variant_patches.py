"""Python defects of the variants, each applied to `cardpack_service` inside the variant's
own process (by variant_service.py) before uvicorn imports the app. Never imported by the
service itself.

Every patch replaces one function, method, route or module-level name of the reference
code with what a hurried implementation would have written there, and nothing else.
Imports of the service happen inside each patch, so importing this module is cheap (the
catalogue tests check the names without starting anything).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

logger = logging.getLogger("cardpack_service.variant")


def _replace(owner: Any, name: str, value: Any) -> None:
    """Put `value` where the reference has `owner.name`; loud when the reference has no
    such name any more (the variant would otherwise run as the correct service)."""
    if not hasattr(owner, name):
        raise AttributeError(f"{owner!r} has no {name}: the defect no longer applies to the reference")
    setattr(owner, name, value)


def _after_app_is_built(change: Callable[[Any], None]) -> None:
    """Let `change(app)` alter the app the service's factory builds (uvicorn looks the
    factory up by name when it starts, so the replacement is the one it calls)."""
    from cardpack_service import main

    build = main.create_app

    def create_app(settings: Any = None) -> Any:
        app = build(settings)
        change(app)
        return app

    _replace(main, "create_app", create_app)


def _drop_route(router: Any, path: str) -> None:
    """Take `path` out of one of the service's routers before the app includes it (as if
    it had never been declared)."""
    routes = [route for route in router.routes if getattr(route, "path", None) == path]
    if not routes:
        raise LookupError(f"the service declares no route {path}: the defect no longer applies")
    router.routes[:] = [route for route in router.routes if route not in routes]


def _gateway_classes() -> dict[str, Any]:
    from cardpack_service.gateways.paypal import PayPalGateway
    from cardpack_service.gateways.standard import StandardGateway
    from cardpack_service.gateways.stripe_gateway import StripeGateway

    return {"standard": StandardGateway, "stripe": StripeGateway, "paypal": PayPalGateway}


SIGNATURE_HEADER = {
    "standard": "webhook-signature",
    "stripe": "stripe-signature",
    "paypal": "paypal-transmission-sig",
}


# --- exactly once -------------------------------------------------------------------------


def check_then_act() -> None:
    """Is there a purchase for this payment? If not, record the capture (the schema has no
    unique keys in this variant, see the catalogue's SQL)."""
    from cardpack_service import db

    record = db.record_capture

    async def record_capture(pool: Any, **fields: Any) -> Any:
        found = await db.fetch_purchases(pool, fields["payment_id"], fields["gateway"])
        if found:
            await db.append_audit(
                pool,
                gateway=fields["gateway"],
                outcome="duplicate",
                event_id=fields["event_id"],
                event_type=fields["event_type"],
                payment_id=fields["payment_id"],
                detail="payment already delivered",
            )
            return db.RecordResult("duplicate", found[0]["purchase_id"], 0, found[0]["status"])
        return await record(pool, **fields)

    _replace(db, "record_capture", record_capture)


def duplicates_409() -> None:
    from cardpack_service import webhooks

    answer = webhooks._duplicate

    def _duplicate(event: Any, result: Any) -> Any:
        response = answer(event, result)
        response.status_code = 409
        return response

    _replace(webhooks, "_duplicate", _duplicate)


FLUSH_INTERVAL_S = 0.5
PACK_SIZES = {"black": 5, "gold": 3, "platinum": 10}


def acknowledge_before_write() -> None:
    """A capture of a payment without a purchase yet is answered at once, as if written,
    and written by a background task that flushes a buffer twice a second."""
    from cardpack_service import db

    record = db.record_capture
    buffered: list[tuple[Any, dict[str, Any]]] = []
    flusher: list[asyncio.Task[None]] = []

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            batch, buffered[:] = list(buffered), []
            for pool, fields in batch:
                try:
                    await record(pool, **fields)
                except Exception:  # a write-behind buffer loses what fails; so does this one
                    logger.exception("buffered capture lost")

    async def record_capture(pool: Any, **fields: Any) -> Any:
        if fields["pack_type"] not in PACK_SIZES or await db.fetch_purchases(
            pool, fields["payment_id"], fields["gateway"]
        ):
            return await record(pool, **fields)
        if not flusher:
            flusher.append(asyncio.get_running_loop().create_task(flush_forever()))
        buffered.append((pool, fields))
        return db.RecordResult("accepted", 0, PACK_SIZES[fields["pack_type"]], "active")

    _replace(db, "record_capture", record_capture)


# --- refunds ------------------------------------------------------------------------------


def stripe_refund_by_charge_id() -> None:
    """charge.refunded is mapped with the charge's own id as the payment id."""
    from cardpack_service.gateways.stripe_gateway import StripeGateway

    to_event = StripeGateway.to_event

    def mapped(self: Any, payload: dict[str, Any]) -> Any:
        if payload.get("type") == "charge.refunded":
            charge = dict(payload["data"]["object"])
            charge["payment_intent"] = charge.get("id")
            payload = {**payload, "data": {**payload["data"], "object": charge}}
        return to_event(self, payload)

    _replace(StripeGateway, "to_event", mapped)


# --- the audit trail ----------------------------------------------------------------------


def _audit_skips(outcome: str) -> None:
    from cardpack_service.webhooks import WebhookHandler

    audit = WebhookHandler._audit

    async def _audit(self: Any, kind: str, *args: Any) -> None:
        if kind != outcome:
            await audit(self, kind, *args)

    _replace(WebhookHandler, "_audit", _audit)


def audit_skips_rejected() -> None:
    _audit_skips("rejected")


def audit_skips_ignored() -> None:
    _audit_skips("ignored")


_REQUEST_HEADERS: ContextVar[Mapping[str, str] | None] = ContextVar("request_headers", default=None)


def audit_quotes_signature() -> None:
    """A refusal's audit detail quotes the signature header "to help debugging"."""
    from cardpack_service.webhooks import WebhookHandler

    handle, audit = WebhookHandler.handle, WebhookHandler._audit

    async def handle_with_headers(self: Any, request: Any) -> Any:
        _REQUEST_HEADERS.set(request.headers)
        return await handle(self, request)

    async def _audit(
        self: Any, outcome: str, event_id: Any, event_type: Any, payment_id: Any, detail: str
    ) -> None:
        if outcome == "rejected":
            headers = _REQUEST_HEADERS.get() or {}
            received = headers.get(SIGNATURE_HEADER[self.gateway.name], "none")
            detail = f"{detail} (received signature: {received})"
        await audit(self, outcome, event_id, event_type, payment_id, detail)

    _replace(WebhookHandler, "handle", handle_with_headers)
    _replace(WebhookHandler, "_audit", _audit)


# --- signatures ---------------------------------------------------------------------------


def unsigned_accepted() -> None:
    """Verify the signature when there is one."""
    for name, gateway in _gateway_classes().items():
        verify = gateway.verify

        def verify_if_signed(
            self: Any, raw: bytes, headers: Any, settings: Any, _verify: Any = verify, _name: str = name
        ) -> None:
            if headers.get(SIGNATURE_HEADER[_name]):
                _verify(self, raw, headers, settings)

        _replace(gateway, "verify", verify_if_signed)


def fails_open() -> None:
    """A failed verification is logged, and the delivery goes on."""
    from cardpack_service.gateways import SignatureRejected

    for gateway in _gateway_classes().values():
        verify = gateway.verify

        def verify_or_warn(self: Any, raw: bytes, headers: Any, settings: Any, _verify: Any = verify) -> None:
            try:
                _verify(self, raw, headers, settings)
            except SignatureRejected as exc:
                logger.warning("webhook signature did not verify: %s", exc.reason)

        _replace(gateway, "verify", verify_or_warn)


def paypal_status_ignored() -> None:
    """PayPal answered the verification call: good enough."""
    from cardpack_service.gateways.paypal import PayPalGateway

    status = PayPalGateway._verification_status

    def answered(self: Any, envelope: str, settings: Any) -> str:
        status(self, envelope, settings)
        return "SUCCESS"

    _replace(PayPalGateway, "_verification_status", answered)


def dedupe_before_verification() -> None:
    """Delivery ids are remembered as they arrive, to answer retries quickly."""
    from fastapi.responses import JSONResponse

    from cardpack_service.webhooks import WebhookHandler

    handle = WebhookHandler.handle
    seen: set[tuple[str, str]] = set()

    async def handle_unless_seen(self: Any, request: Any) -> Any:
        hint = self.gateway.event_id_hint(request.headers)
        if hint:
            if (self.gateway.name, hint) in seen:
                return JSONResponse({"status": "duplicate", "event_id": hint})
            seen.add((self.gateway.name, hint))
        return await handle(self, request)

    _replace(WebhookHandler, "handle", handle_unless_seen)


def _stripe_verify(tolerance_of: Callable[[Any], int | None]) -> None:
    """Stripe verified the way its samples do: the library's check alone (which bounds a
    timestamp's past, when given a tolerance, and never its future)."""
    import stripe

    from cardpack_service.gateways import SignatureRejected
    from cardpack_service.gateways.stripe_gateway import StripeGateway

    def verify(self: Any, raw: bytes, headers: Any, settings: Any) -> None:
        header = headers.get("stripe-signature")
        if not header:
            raise SignatureRejected("missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                raw,
                header,
                settings.stripe_webhook_secret.get_secret_value(),
                tolerance=tolerance_of(settings),
            )
        except stripe.SignatureVerificationError as exc:
            raise SignatureRejected(f"Stripe signature rejected: {exc.user_message}") from exc

    _replace(StripeGateway, "verify", verify)


def _timestamps(past: bool, future: bool) -> None:
    """Standard and PayPal timestamps checked only in the directions given."""
    from standardwebhooks.webhooks import WebhookVerificationError

    from cardpack_service.gateways import SignatureRejected, paypal, standard

    def verify_timestamp(self: Any, timestamp_header: str) -> datetime:
        stamp, now = float(timestamp_header), time.time()
        if past and stamp < now - self.tolerance_s:
            raise WebhookVerificationError("Message timestamp too old")
        if future and stamp > now + self.tolerance_s:
            raise WebhookVerificationError("Message timestamp too new")
        return datetime.fromtimestamp(stamp, tz=UTC)

    def check_transmission_time(value: str, settings: Any, hint: str | None) -> None:
        sent_at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        now = time.time()
        if (past and sent_at < now - settings.signature_tolerance_s) or (
            future and sent_at > now + settings.signature_tolerance_s
        ):
            raise SignatureRejected("PAYPAL-TRANSMISSION-TIME outside the allowed window", event_id_hint=hint)

    _replace(standard._WindowedWebhook, "_Webhook__verify_timestamp", verify_timestamp)
    _replace(paypal, "_check_transmission_time", check_transmission_time)


def no_timestamp_window() -> None:
    _timestamps(past=False, future=False)
    _stripe_verify(lambda settings: None)


def timestamp_past_bound_only() -> None:
    _timestamps(past=True, future=False)
    _stripe_verify(lambda settings: int(settings.signature_tolerance_s))


# --- bad input ----------------------------------------------------------------------------


def malformed_json_raises() -> None:
    """The body is parsed with json.loads and nothing catches what it raises."""
    from cardpack_service import webhooks
    from cardpack_service.gateways import paypal

    def parse(raw: bytes) -> Any:
        return json.loads(raw)

    _replace(webhooks, "parse_json", parse)
    _replace(paypal, "parse_json", parse)


def unknown_event_type_raises() -> None:
    """Events go through a table of handlers by type; a type not in it raises KeyError."""
    from cardpack_service.events import IgnoredEvent

    for gateway in _gateway_classes().values():
        to_event = gateway.to_event

        def handled(self: Any, payload: dict[str, Any], _to_event: Any = to_event) -> Any:
            event = _to_event(self, payload)
            if isinstance(event, IgnoredEvent):
                raise KeyError(event.type)
            return event

        _replace(gateway, "to_event", handled)


def no_body_limit() -> None:
    from cardpack_service import webhooks

    async def read_body(request: Any, limit: int) -> bytes:
        body: bytes = await request.body()
        return body

    _replace(webhooks, "read_limited_body", read_body)


def content_type_ignored() -> None:
    from cardpack_service import webhooks

    _replace(webhooks, "_is_json", lambda content_type: True)


# --- admin routes -------------------------------------------------------------------------


def admin_open() -> None:
    from cardpack_service import deps

    async def no_check() -> None:
        return None

    _after_app_is_built(lambda app: app.dependency_overrides.__setitem__(deps.require_admin, no_check))


def admin_any_token() -> None:
    """A bearer token must be there; which one is not compared."""
    from cardpack_service import deps

    _replace(deps, "hmac", SimpleNamespace(compare_digest=lambda presented, expected: bool(presented)))


# --- operations ---------------------------------------------------------------------------


def no_metrics_route() -> None:
    from cardpack_service.routes import health

    _drop_route(health.router, "/metrics")


def metrics_not_counted() -> None:
    """Deliveries are counted in a registry of their own, which /metrics never renders."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from cardpack_service import webhooks

    registry = CollectorRegistry()
    deliveries = Counter(
        "webhook_deliveries_total", "deliveries", ["gateway", "type", "outcome"], registry=registry
    )
    _replace(webhooks, "WEBHOOK_DELIVERIES", deliveries)
    _replace(
        webhooks,
        "WEBHOOK_LATENCY",
        Histogram("webhook_latency_seconds", "latency", ["gateway"], registry=registry),
    )


def no_stripe_route() -> None:
    from cardpack_service.routes import webhooks

    del webhooks.GATEWAY_OF_PATH["/webhooks/stripe"]
    _drop_route(webhooks.router, "/webhooks/stripe")


def redis_on_webhook_path() -> None:
    """Every delivery counts itself in Redis first (a per-gateway rate counter)."""
    from cardpack_service.webhooks import WebhookHandler

    handle = WebhookHandler.handle

    async def handle_counted(self: Any, request: Any) -> Any:
        await request.app.state.redis.incr(f"deliveries:{self.gateway.name}")
        return await handle(self, request)

    _replace(WebhookHandler, "handle", handle_counted)


def database_errors_unhandled() -> None:
    """Database errors are not caught apart from any other error (so an outage is a 500)."""
    from cardpack_service import webhooks

    class NeverRaised(Exception):
        pass

    _replace(webhooks, "OperationalError", NeverRaised)
    _replace(webhooks, "PoolTimeout", NeverRaised)


def status_always_ok() -> None:
    from cardpack_service import __version__
    from cardpack_service.routes import health

    async def status() -> Any:
        return {"database": "ok", "redis": "ok", "version": __version__}

    _drop_route(health.router, "/status")
    health.router.add_api_route("/status", status, methods=["GET"])


PATCHES: dict[str, Callable[[], None]] = {
    patch.__name__: patch
    for patch in (
        check_then_act,
        duplicates_409,
        acknowledge_before_write,
        stripe_refund_by_charge_id,
        audit_skips_rejected,
        audit_skips_ignored,
        audit_quotes_signature,
        unsigned_accepted,
        fails_open,
        paypal_status_ignored,
        dedupe_before_verification,
        no_timestamp_window,
        timestamp_past_bound_only,
        malformed_json_raises,
        unknown_event_type_raises,
        no_body_limit,
        content_type_ignored,
        admin_open,
        admin_any_token,
        no_metrics_route,
        metrics_not_counted,
        no_stripe_route,
        redis_on_webhook_path,
        database_errors_unhandled,
        status_always_ok,
    )
}


def apply(name: str) -> None:
    try:
        patch = PATCHES[name]
    except KeyError:
        raise KeyError(f"no Python defect {name!r}; known: {', '.join(sorted(PATCHES))}") from None
    patch()
