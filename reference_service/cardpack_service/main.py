"""The FastAPI application factory: `uvicorn cardpack_service.main:create_app --factory`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg import DataError, OperationalError
from psycopg_pool import PoolTimeout
from starlette.types import Receive, Scope, Send

from . import __version__, db
from .config import Settings, get_settings
from .metrics import DEPENDENCY_ERRORS
from .routes import admin, health
from .routes import webhooks as webhook_routes

logger = logging.getLogger(__name__)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Any route that cannot reach PostgreSQL answers 503 (retry later), never 500.
    Only connection-level errors: a bad value is the client's to fix, not to retry."""
    DEPENDENCY_ERRORS.labels("database").inc()
    logger.warning("database unavailable on %s: %s", request.url.path, type(exc).__name__)
    return JSONResponse(
        status_code=503, content={"detail": "database unavailable"}, headers={"Retry-After": "5"}
    )


async def _invalid_value(request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL cannot store or compare (a NUL byte, say) is bad input: 422."""
    return JSONResponse(status_code=422, content={"detail": "invalid value in the request"})


class CardpackApp(FastAPI):
    """FastAPI, with webhook deliveries served before its middleware stack (see
    `routes.webhooks.serve_webhook_fast_path`); every other request goes through it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if await webhook_routes.serve_webhook_fast_path(self.state, scope, receive, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = db.make_pool(settings)
        await pool.open(wait=True, timeout=30)
        await db.apply_schema(pool)
        app.state.pool = pool
        app.state.webhooks = webhook_routes.build_handlers(pool, settings)
        app.state.redis = aioredis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        if not settings.require_webhook_signature:
            logger.warning("REQUIRE_WEBHOOK_SIGNATURE=false: webhook signatures are NOT checked")
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await pool.close()

    app = CardpackApp(
        title="Card-pack payment webhook service",
        version=__version__,
        description="Reference service: delivers artist-card packs exactly once per payment.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(DataError, _invalid_value)
    app.include_router(webhook_routes.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    return app
