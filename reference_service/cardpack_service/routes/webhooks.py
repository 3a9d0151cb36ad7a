"""POST /webhooks/{payments,stripe,paypal}: one shared handler, three adapters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import State
from starlette.types import Receive, Scope, Send

from ..audit_budget import AuditBudget
from ..config import Settings
from ..events import StandardEvent
from ..gateways import GatewayAdapter
from ..gateways.paypal import PayPalGateway
from ..gateways.standard import StandardGateway
from ..gateways.stripe_gateway import StripeGateway
from ..observability.error_sink import ErrorReporter
from ..webhooks import Pool, WebhookHandler

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Malformed body (bad JSON or UTF-8, nested too deep)"},
    401: {"description": "Missing or invalid signature"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Content type is not application/json"},
    422: {
        "description": "Event cannot be delivered (unknown pack type, missing fields, a value out of "
        "range, a refund for a payment that belongs to another gateway)"
    },
    503: {"description": "Database or gateway verification unavailable, or too many requests; retry"},
}


def build_handlers(
    pool: Pool, settings: Settings, budget: AuditBudget, reporter: ErrorReporter
) -> dict[str, WebhookHandler]:
    """One handler per gateway, built once at startup (not per request)."""
    gateways: tuple[GatewayAdapter, ...] = (StandardGateway(), StripeGateway(), PayPalGateway())
    return {gateway.name: WebhookHandler(gateway, pool, settings, budget, reporter) for gateway in gateways}


async def _handle(gateway: str, request: Request) -> Response:
    handlers: dict[str, WebhookHandler] = request.app.state.webhooks
    return await handlers[gateway].handle(request)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the body for OpenAPI (clients, fuzzers) without FastAPI parsing it: the
    signature must be checked over the raw bytes before anything reads them."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_STRIPE_EVENT = {
    "type": "object",
    "required": ["id", "type", "data"],
    "properties": {
        "id": {"type": "string"},
        "type": {
            "type": "string",
            "enum": ["payment_intent.succeeded", "charge.captured", "charge.refunded", "customer.created"],
        },
        "data": {
            "type": "object",
            "required": ["object"],
            "properties": {
                "object": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "payment_intent": {"type": "string"},
                        "amount": {"type": "integer"},
                        "currency": {"type": "string"},
                        "metadata": {
                            "type": "object",
                            "properties": {"user_id": {"type": "string"}, "pack_type": {"type": "string"}},
                        },
                    },
                }
            },
        },
    },
}
_PAYPAL_EVENT = {
    "type": "object",
    "required": ["id", "event_type", "resource"],
    "properties": {
        "id": {"type": "string"},
        "event_type": {"type": "string", "enum": ["PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.REFUNDED"]},
        "resource": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "custom_id": {"type": "string"},
                "amount": {
                    "type": "object",
                    "properties": {"value": {"type": "string"}, "currency_code": {"type": "string"}},
                },
                "links": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"rel": {"type": "string"}, "href": {"type": "string"}},
                    },
                },
            },
        },
    },
}


# The routes take the raw Request and nothing else: the body must be verified as bytes
# before anything parses it, and per-request dependency resolution is avoidable cost.
@router.post(
    "/payments",
    responses=_RESPONSES,
    summary="Standard Webhooks payment event",
    openapi_extra=_json_body(StandardEvent.model_json_schema()),
)
async def standard_webhook(request: Request) -> Response:
    return await _handle("standard", request)


@router.post("/stripe", responses=_RESPONSES, summary="Stripe event", openapi_extra=_json_body(_STRIPE_EVENT))
async def stripe_webhook(request: Request) -> Response:
    return await _handle("stripe", request)


@router.post("/paypal", responses=_RESPONSES, summary="PayPal event", openapi_extra=_json_body(_PAYPAL_EVENT))
async def paypal_webhook(request: Request) -> Response:
    return await _handle("paypal", request)


GATEWAY_OF_PATH = {
    "/webhooks/payments": "standard",
    "/webhooks/stripe": "stripe",
    "/webhooks/paypal": "paypal",
}


async def serve_webhook_fast_path(state: State, scope: Scope, receive: Receive, send: Send) -> bool:
    """Serve POST /webhooks/* straight from the handler; False for anything else.

    The webhook routes are the service's hot path and need nothing FastAPI's middleware,
    routing and dependency resolution provide: the handler reads the raw body and
    answers on its own, errors included (catching everything, so it needs no error
    middleware). Those layers cost more CPU per delivery than the handler itself. The
    routes above stay declared, so OpenAPI documents them, and behave the same way.
    """
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    gateway = GATEWAY_OF_PATH.get(scope["path"])
    if gateway is None:
        return False
    handlers: dict[str, WebhookHandler] = state.webhooks
    response = await handlers[gateway].handle(Request(scope, receive))
    await response(scope, receive, send)
    return True
