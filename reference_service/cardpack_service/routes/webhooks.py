"""POST /webhooks/{payments,stripe,paypal}: one shared handler, three adapters."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..config import Settings
from ..gateways import GatewayAdapter
from ..gateways.paypal import PayPalGateway
from ..gateways.standard import StandardGateway
from ..gateways.stripe_gateway import StripeGateway
from ..webhooks import Pool, WebhookHandler

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Malformed body"},
    401: {"description": "Missing or invalid signature"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Content type is not application/json"},
    422: {"description": "Event cannot be delivered (unknown pack type, missing fields)"},
    503: {"description": "Database or gateway verification unavailable; retry"},
}


def build_handlers(pool: Pool, settings: Settings) -> dict[str, WebhookHandler]:
    """One handler per gateway, built once at startup (not per request)."""
    gateways: tuple[GatewayAdapter, ...] = (StandardGateway(), StripeGateway(), PayPalGateway())
    return {gateway.name: WebhookHandler(gateway, pool, settings) for gateway in gateways}


async def _handle(gateway: str, request: Request) -> Response:
    handlers: dict[str, WebhookHandler] = request.app.state.webhooks
    return await handlers[gateway].handle(request)


# The routes take the raw Request and nothing else: the body must be verified as bytes
# before anything parses it, and per-request dependency resolution is avoidable cost.
@router.post("/payments", responses=_RESPONSES, summary="Standard Webhooks payment event")
async def standard_webhook(request: Request) -> Response:
    return await _handle("standard", request)


@router.post("/stripe", responses=_RESPONSES, summary="Stripe event")
async def stripe_webhook(request: Request) -> Response:
    return await _handle("stripe", request)


@router.post("/paypal", responses=_RESPONSES, summary="PayPal event")
async def paypal_webhook(request: Request) -> Response:
    return await _handle("paypal", request)
