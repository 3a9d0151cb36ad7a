"""POST /webhooks/{payments,stripe,paypal}: one shared handler, three adapters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..deps import PoolDep, SettingsDep
from ..gateways import GatewayAdapter
from ..gateways.paypal import PayPalGateway
from ..gateways.standard import StandardGateway
from ..gateways.stripe_gateway import StripeGateway
from ..webhooks import WebhookHandler

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

STANDARD = StandardGateway()
STRIPE = StripeGateway()
PAYPAL = PayPalGateway()

_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Malformed body"},
    401: {"description": "Missing or invalid signature"},
    413: {"description": "Body over the size limit"},
    415: {"description": "Content type is not application/json"},
    422: {"description": "Event cannot be delivered (unknown pack type, missing fields)"},
    503: {"description": "Database or gateway verification unavailable; retry"},
}


async def _handle(
    gateway: GatewayAdapter, request: Request, pool: PoolDep, settings: SettingsDep
) -> JSONResponse:
    return await WebhookHandler(gateway, pool, settings).handle(request)


@router.post("/payments", responses=_RESPONSES, summary="Standard Webhooks payment event")
async def standard_webhook(request: Request, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    return await _handle(STANDARD, request, pool, settings)


@router.post("/stripe", responses=_RESPONSES, summary="Stripe event")
async def stripe_webhook(request: Request, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    return await _handle(STRIPE, request, pool, settings)


@router.post("/paypal", responses=_RESPONSES, summary="PayPal event")
async def paypal_webhook(request: Request, pool: PoolDep, settings: SettingsDep) -> JSONResponse:
    return await _handle(PAYPAL, request, pool, settings)
