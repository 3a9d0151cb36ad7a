"""PostgreSQL access: the connection pool, the schema, and the service's queries.

Every query is parameterized. Captures and refunds are single calls to the
`record_capture`/`record_refund` functions in schema.sql: one round trip, one
transaction, exactly-once by unique keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from .config import Settings

SCHEMA_LOCK_KEY = 0x5EED_CA4D  # advisory lock: concurrent workers apply the schema in turn


def schema_sql() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


def make_pool(settings: Settings) -> AsyncConnectionPool[AsyncConnection[Any]]:
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_timeout_s,
        kwargs={"autocommit": True, "connect_timeout": max(1, int(settings.db_timeout_s))},
        open=False,
        name="cardpack",
    )


async def apply_schema(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
        await conn.execute(schema_sql().encode())


@dataclass(frozen=True)
class RecordResult:
    outcome: str
    purchase_id: int | None
    count: int
    purchase_status: str | None


async def record_capture(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
    *,
    gateway: str,
    event_id: str,
    event_type: str,
    payment_id: str,
    user_id: str,
    pack_type: str,
    amount: int | None,
    currency: str | None,
) -> RecordResult:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM record_capture(%s, %s, %s, %s, %s, %s, %s, %s)",
            (gateway, event_id, event_type, payment_id, user_id, pack_type, amount, currency),
        )
        row = await cur.fetchone()
    assert row is not None
    return RecordResult(*row)


async def record_refund(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
    *,
    gateway: str,
    event_id: str,
    event_type: str,
    payment_id: str,
) -> RecordResult:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT * FROM record_refund(%s, %s, %s, %s)",
            (gateway, event_id, event_type, payment_id),
        )
        row = await cur.fetchone()
    assert row is not None
    return RecordResult(*row)


async def append_audit(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
    *,
    gateway: str,
    outcome: str,
    event_id: str | None,
    event_type: str | None,
    payment_id: str | None,
    detail: str,
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO audit_log (event_id, gateway, event_type, payment_id, outcome, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (event_id, gateway, event_type, payment_id, outcome, detail[:500]),
        )


async def fetch_purchase(
    pool: AsyncConnectionPool[AsyncConnection[Any]], payment_id: str
) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT purchase_id, payment_id, user_id, pack_type, status FROM purchases WHERE payment_id = %s",
            (payment_id,),
        )
        purchase = await cur.fetchone()
        if purchase is None:
            return None
        await cur.execute(
            "SELECT card_id, artist_id, revoked FROM cards WHERE purchase_id = %s ORDER BY card_id",
            (purchase["purchase_id"],),
        )
        purchase["cards"] = await cur.fetchall()
    return purchase


async def fetch_audit(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
    *,
    payment_id: str | None = None,
    event_id: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Audit entries, oldest first: for a payment, for an event id, or the newest `limit`."""
    filters = {"payment_id": payment_id, "event_id": event_id}
    conditions = [
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder())
        for column, value in filters.items()
        if value is not None
    ]
    params: list[Any] = [value for value in filters.values() if value is not None]
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "SELECT * FROM (SELECT audit_id, event_id, gateway, event_type AS type, payment_id,"
        " outcome, detail, received_at FROM audit_log{where}"
        " ORDER BY audit_id DESC LIMIT %s) AS newest ORDER BY audit_id"
    ).format(where=where)
    params.append(limit)
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        rows = await cur.fetchall()
    for row in rows:
        del row["audit_id"]
    return rows


async def fetch_counts(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> dict[str, int]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM cards), (SELECT count(*) FROM purchases),"
            " (SELECT count(*) FROM artists)"
        )
        row = await cur.fetchone()
    assert row is not None
    return {"cards": row[0], "purchases": row[1], "artists": row[2]}
