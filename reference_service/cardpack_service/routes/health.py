"""Liveness, readiness (database, redis, version, counts) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from psycopg import OperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from .. import __version__, db
from ..config import Settings
from ..deps import PoolDep, RedisDep, SettingsDep
from ..metrics import DEPENDENCY_ERRORS, render

router = APIRouter(tags=["health"])

STATUS_TIMEOUT_S = 3.0


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/status", responses={503: {"description": "A dependency is down"}})
async def status(pool: PoolDep, redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    body: dict[str, Any] = {"database": "ok", "redis": "ok", "version": __version__}
    body["webhooks"] = webhook_configuration(settings)
    try:
        body["counts"] = await asyncio.wait_for(db.fetch_counts(pool), STATUS_TIMEOUT_S)
    except (OperationalError, PoolTimeout, TimeoutError):
        DEPENDENCY_ERRORS.labels("database").inc()
        body["database"] = "down"
        body["counts"] = None
    try:
        await asyncio.wait_for(redis.ping(), STATUS_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError):
        DEPENDENCY_ERRORS.labels("redis").inc()
        body["redis"] = "down"
    healthy = body["database"] == "ok" and body["redis"] == "ok"
    return JSONResponse(status_code=200 if healthy else 503, content=body)


def webhook_configuration(settings: Settings) -> dict[str, bool]:
    """Which gateways can verify deliveries: booleans only, never the secrets."""
    return {
        "signatures_required": settings.require_webhook_signature,
        "standard": settings.payments_webhook_secret is not None,
        "stripe": settings.stripe_webhook_secret is not None,
        "paypal": bool(
            settings.paypal_webhook_id and settings.paypal_client_id and settings.paypal_client_secret
        ),
        "admin_token": settings.admin_token is not None,
    }


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    payload, content_type = render()
    return Response(content=payload, media_type=content_type)
