"""The FastAPI application factory: `uvicorn cardpack_service.main:create_app --factory`
(for production use `python -m cardpack_service`, which adds the launch settings)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg import DataError, OperationalError
from psycopg_pool import PoolTimeout
from starlette.types import Receive, Scope, Send

from . import __version__, db, startup
from .audit_budget import AuditBudget
from .config import Settings, get_settings
from .counts_cache import CountsCache
from .metrics import DEPENDENCY_ERRORS, REQUESTS_SHED
from .observability.error_sink import ErrorReporter
from .observability.logs import attach_log_file, detach_log_file
from .routes import admin, health
from .routes import webhooks as webhook_routes

logger = logging.getLogger(__name__)

NEVER_SHED = frozenset({"/health"})
"""Answered even at the concurrency limit: constant work, and a load balancer that saw
503 on its health check would take the instance out and shift its load to the rest."""

_SHED_BODY = b'{"detail":"too many requests in flight; retry"}'


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


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    """Anything else on the non-webhook routes: counted, reported to the sink, 500.
    (Starlette logs the traceback itself after this handler.)"""
    reporter: ErrorReporter = request.app.state.reporter
    reporter.report(exc, route="other", method=request.method, path=request.url.path)
    return JSONResponse(status_code=500, content={"detail": "internal error"})


class CardpackApp(FastAPI):
    """FastAPI, with webhook deliveries served before its middleware stack (see
    `routes.webhooks.serve_webhook_fast_path`), and a bound on requests in flight: beyond
    MAX_CONCURRENT_REQUESTS the answer is 503 with Retry-After at once, not a queue."""

    max_in_flight = 256
    in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_SHED:
            await self._serve(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            REQUESTS_SHED.inc()
            await _shed(send)
            return
        self.in_flight += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        if await webhook_routes.serve_webhook_fast_path(self.state, scope, receive, send):
            return
        await super().__call__(scope, receive, send)


async def _shed(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_SHED_BODY)).encode()),
                (b"retry-after", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _SHED_BODY})


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:  # unwinds in reverse, also on failure
            stack.callback(detach_log_file, attach_log_file(settings))
            await startup.prepare_database(settings)
            pool = db.make_pool(settings)
            stack.push_async_callback(pool.close)
            await pool.open(wait=True, timeout=30)
            await startup.check_or_apply_schema(settings, pool)
            reporter = ErrorReporter(settings)
            stack.push_async_callback(reporter.aclose)
            redis = aioredis.from_url(
                settings.redis_url.get_secret_value(), socket_timeout=1, socket_connect_timeout=1
            )
            stack.push_async_callback(redis.aclose)

            async def write_aggregate(gateway: str, detail: str) -> None:
                await db.append_audit(
                    pool,
                    gateway=gateway,
                    outcome="rejected",
                    event_id=None,
                    event_type=None,
                    payment_id=None,
                    detail=detail,
                )

            budget = AuditBudget(settings.audit_unverified_per_interval, settings.audit_unverified_interval_s)
            stack.push_async_callback(budget.flush, write_aggregate, all_windows=True)
            flusher = asyncio.get_running_loop().create_task(budget.run(write_aggregate))
            stack.push_async_callback(_cancel, flusher)

            app.state.pool = pool
            app.state.redis = redis
            app.state.reporter = reporter
            app.state.counts = CountsCache(lambda: db.fetch_counts(pool), settings.status_counts_ttl_s)
            app.state.webhooks = webhook_routes.build_handlers(pool, settings, budget, reporter)
            if not settings.require_webhook_signature:
                logger.warning("REQUIRE_WEBHOOK_SIGNATURE=false: webhook signatures are NOT checked")
            yield

    app = CardpackApp(
        title="Card-pack payment webhook service",
        version=__version__,
        description="Reference service: delivers artist-card packs exactly once per payment.",
        lifespan=lifespan,
    )
    app.max_in_flight = settings.max_concurrent_requests
    app.state.settings = settings
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(DataError, _invalid_value)
    app.add_exception_handler(Exception, _unhandled)
    app.include_router(webhook_routes.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    return app
