"""Liveness, readiness (database, redis, version, counts) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from psycopg import OperationalError
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from .. import __version__, db
from ..config import Settings
from ..counts_cache import CountsCache
from ..deps import PoolDep, RedisDep, SettingsDep
from ..metrics import DEPENDENCY_ERRORS, render

router = APIRouter(tags=["health"])

STATUS_TIMEOUT_S = 3.0


@router.get("/health")
async def health(settings: SettingsDep) -> dict[str, str]:
    """Liveness, and which instance answered (INSTANCE_NAME, else host:pid): behind a load
    balancer, this is how a client sees where its request went."""
    return {"status": "ok", "instance": settings.instance()}


@router.get("/status", responses={503: {"description": "A dependency is down"}})
async def status(request: Request, pool: PoolDep, redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """Database and Redis checked on every call; row counts at most every
    STATUS_COUNTS_TTL_S seconds (`counts_age_s` says how old they are)."""
    body: dict[str, Any] = {"database": "ok", "redis": "ok", "version": __version__}
    body["webhooks"] = webhook_configuration(settings)
    body["error_sink"] = settings.error_sink_url is not None
    counts: CountsCache = request.app.state.counts
    try:
        await asyncio.wait_for(db.ping(pool), STATUS_TIMEOUT_S)
        body["counts"], age = await asyncio.wait_for(counts.get(), STATUS_TIMEOUT_S)
        body["counts_age_s"] = round(age, 3)
    except (OperationalError, PoolTimeout, TimeoutError):
        DEPENDENCY_ERRORS.labels("database").inc()
        body["database"] = "down"
        body["counts"] = None
        body["counts_age_s"] = None
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
