"""PostgreSQL access: the connection pool, the schema, and the service's queries.

Every query is parameterized. Captures and refunds are single calls to the
`record_capture`/`record_refund` functions in schema.sql: one round trip, one
transaction, exactly-once by unique keys.

Every query runs through `_run`, which retries once on a fresh connection when the
pooled one turns out dead (PostgreSQL restarted). That is safe because every query is
either a read or an idempotent function call keyed by the event id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from psycopg import AsyncConnection, OperationalError, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .config import Settings

SCHEMA_LOCK_KEY = 0x5EED_CA4D  # advisory lock: concurrent workers apply the schema in turn
SCHEMA_VERSION = 2  # what `cardpack_schema_version()` in schema.sql returns
APPLICATION_NAME = "cardpack-service"  # pg_stat_activity shows the service's connections by it

Pool = AsyncConnectionPool[AsyncConnection[Any]]
T = TypeVar("T")


def schema_sql() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


class SchemaMissing(RuntimeError):
    """The database has no card-pack schema, or another version of it."""


def make_pool(settings: Settings) -> Pool:
    return AsyncConnectionPool(
        settings.database_url.get_secret_value(),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_timeout_s,
        kwargs={
            "autocommit": True,
            "connect_timeout": max(1, int(settings.db_timeout_s)),
            "application_name": APPLICATION_NAME,
        },
        open=False,
        name="cardpack",
    )


async def _run(pool: Pool, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
    """`work` on a pooled connection; once more on a fresh one if that connection was dead."""
    try:
        async with pool.connection() as conn:
            return await work(conn)
    except PoolTimeout:
        raise  # no connection to be had at all: retrying would only double the wait
    except OperationalError:
        # The pool discards the broken connection; a server that is really down fails
        # again here (after the pool timeout) and the caller answers 503.
        async with pool.connection() as conn:
            return await work(conn)


async def apply_schema(pool: Pool) -> None:
    """The schema, applied over the service's own connection (MIGRATE_ON_START: a one-URL
    deployment whose service role owns its tables)."""

    async def work(conn: AsyncConnection[Any]) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            await conn.execute(schema_sql().encode())

    await _run(pool, work)


async def check_schema(pool: Pool) -> None:
    """Refuse to serve on a database without the schema this code expects."""

    async def work(conn: AsyncConnection[Any]) -> int | None:
        cur = await conn.execute("SELECT to_regprocedure('cardpack_schema_version()') IS NOT NULL")
        row = await cur.fetchone()
        if not row or not row[0]:
            return None
        cur = await conn.execute("SELECT cardpack_schema_version()")
        row = await cur.fetchone()
        return int(row[0]) if row else None

    found = await _run(pool, work)
    remedy = (
        "run `python -m cardpack_service.migrate` with the owner's MIGRATION_DATABASE_URL, "
        "or start the service with MIGRATION_DATABASE_URL (or MIGRATE_ON_START=true)"
    )
    if found is None:
        raise SchemaMissing(f"the database has no card-pack schema: {remedy}")
    if found != SCHEMA_VERSION:
        raise SchemaMissing(
            f"the database has schema version {found}, this service needs {SCHEMA_VERSION}: {remedy}"
        )


async def ping(pool: Pool) -> None:
    """A live round trip to PostgreSQL (the readiness check)."""

    async def work(conn: AsyncConnection[Any]) -> None:
        await conn.execute("SELECT 1")

    await _run(pool, work)


async def _fetch_one(pool: Pool, query: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...]:
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
        assert row is not None, "query returns exactly one row"  # nosec B101 # type narrowing: one-row functions
        return tuple(row)

    return await _run(pool, work)


@dataclass(frozen=True)
class RecordResult:
    outcome: str
    purchase_id: int | None
    count: int
    purchase_status: str | None


async def record_capture(
    pool: Pool,
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
    row = await _fetch_one(
        pool,
        "SELECT * FROM record_capture(%s, %s, %s, %s, %s, %s, %s, %s)",
        (gateway, event_id, event_type, payment_id, user_id, pack_type, amount, currency),
    )
    return RecordResult(*row)


async def record_refund(
    pool: Pool,
    *,
    gateway: str,
    event_id: str,
    event_type: str,
    payment_id: str,
) -> RecordResult:
    row = await _fetch_one(
        pool,
        "SELECT * FROM record_refund(%s, %s, %s, %s)",
        (gateway, event_id, event_type, payment_id),
    )
    return RecordResult(*row)


async def append_audit(
    pool: Pool,
    *,
    gateway: str,
    outcome: str,
    event_id: str | None,
    event_type: str | None,
    payment_id: str | None,
    detail: str,
) -> None:
    """One audit row. Not retried by `_run`: an INSERT is not idempotent. Values come
    from unverified requests too, so they are made storable (see `_storable`)."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO audit_log (event_id, gateway, event_type, payment_id, outcome, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                _storable(event_id, 255),
                gateway,
                _storable(event_type, 100),
                _storable(payment_id, 255),
                outcome,
                _storable(detail, 500),
            ),
        )


def _storable(value: str | None, limit: int) -> str | None:
    """NUL escaped (PostgreSQL text cannot hold it) and cut to `limit` characters."""
    return None if value is None else value.replace("\x00", "\\x00")[:limit]


async def fetch_purchases(pool: Pool, payment_id: str, gateway: str | None = None) -> list[dict[str, Any]]:
    """The payment's purchases (one per gateway that knows the id, oldest first), each
    with its cards; only the given gateway's when `gateway` is set."""

    async def work(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT purchase_id, payment_id, gateway, user_id, pack_type, status FROM purchases"
            " WHERE payment_id = %s AND (%s::text IS NULL OR gateway = %s) ORDER BY purchase_id",
            (payment_id, gateway, gateway),
        )
        purchases = await cur.fetchall()
        for purchase in purchases:
            await cur.execute(
                "SELECT card_id, artist_id, revoked FROM cards WHERE purchase_id = %s ORDER BY card_id",
                (purchase["purchase_id"],),
            )
            purchase["cards"] = await cur.fetchall()
        return purchases

    return await _run(pool, work)


async def fetch_audit(
    pool: Pool,
    *,
    payment_id: str | None = None,
    event_id: str | None = None,
    gateway: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Audit entries, oldest first: for a payment, an event id and/or a gateway, or the
    newest `limit`."""
    filters = {"payment_id": payment_id, "event_id": event_id, "gateway": gateway}
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

    async def work(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        return await cur.fetchall()

    rows = await _run(pool, work)
    for row in rows:
        del row["audit_id"]
    return rows


async def fetch_counts(pool: Pool) -> dict[str, int]:
    row = await _fetch_one(
        pool,
        "SELECT (SELECT count(*) FROM cards), (SELECT count(*) FROM purchases),"
        " (SELECT count(*) FROM artists)",
        (),
    )
    return {"cards": row[0], "purchases": row[1], "artists": row[2]}
