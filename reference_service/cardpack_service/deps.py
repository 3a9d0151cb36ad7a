"""Request dependencies: settings, pool, redis, and the admin bearer token check."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import redis.asyncio as aioredis
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from .config import Settings

# Dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a
# worker thread, a thread hop per request for what is an attribute read.


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (`get_settings()` from the environment, unless
    the factory was given others)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_pool(request: Request) -> AsyncConnectionPool[AsyncConnection[Any]]:
    pool: AsyncConnectionPool[AsyncConnection[Any]] = request.app.state.pool
    return pool


async def get_redis(request: Request) -> aioredis.Redis:
    client: aioredis.Redis = request.app.state.redis
    return client


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PoolDep = Annotated[AsyncConnectionPool[AsyncConnection[Any]], Depends(get_pool)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]

_bearer = HTTPBearer(auto_error=False)


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admin routes need `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time.
    With no ADMIN_TOKEN configured the admin routes are closed, never open."""
    expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
    presented = credentials.credentials if credentials else ""
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="admin bearer token required",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Depends(require_admin)
