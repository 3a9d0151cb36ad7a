"""A control for the load benchmark: the least a Python web service can do per capture.

Raw ASGI under uvicorn, the same pool sizes as the service, and per request only: read
the body, parse the JSON, run the service's capture SQL once, answer 200. No signature
verification, no validation, no audit of refusals, no metrics: it is NOT a service, it
is the floor a Python service's cost cannot go below on the same machine, so the
benchmark can tell the service's own overhead apart from the platform's.

Run by bench/controls.py as `uvicorn bare_capture_app:app` with DATABASE_URL set.
"""

from __future__ import annotations

import json
import os
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

CAPTURE_SQL = "SELECT * FROM record_capture(%s, %s, %s, %s, %s, %s, %s, %s)"
_pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None


def capture_params(event: dict[str, Any]) -> tuple[Any, ...]:
    """The service's record_capture arguments for a standard capture event."""
    return (
        "standard",
        event["id"],
        event["type"],
        event["payment_id"],
        event["user_id"],
        event["pack_type"],
        event.get("amount"),
        event.get("currency"),
    )


async def _lifespan(receive: Any, send: Any) -> None:
    global _pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _pool = AsyncConnectionPool(
                os.environ["DATABASE_URL"],
                min_size=int(os.environ.get("DB_POOL_MIN_SIZE", "2")),
                max_size=int(os.environ.get("DB_POOL_MAX_SIZE", "8")),
                kwargs={"autocommit": True},
                open=False,
            )
            await _pool.open(wait=True)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _pool is not None:
                await _pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    params = capture_params(json.loads(body))
    assert _pool is not None, "lifespan startup opens the pool"
    async with _pool.connection() as conn:
        cursor = await conn.execute(CAPTURE_SQL, params)
        row = await cursor.fetchone()
    answer = json.dumps({"status": "captured" if row and row[0] == "accepted" else str(row)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
