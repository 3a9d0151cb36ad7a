"""Demo data for a drill on an empty database: the service's schema and real captures.

The rows are made by the service's own `record_capture` function, so they look exactly
like production rows (a purchase, its cards, the dedupe record, the audit row).
"""

from __future__ import annotations

import uuid

import psycopg

DEMO_PACKS = ("black", "gold", "platinum")


def purchase_count(database_url: str) -> int | None:
    """Purchases in the database, or None when the schema is not there yet."""
    with psycopg.connect(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('public.purchases') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute("SELECT count(*) FROM purchases").fetchone()
        return int(row[0]) if row else 0


def seed_if_empty(database_url: str, purchases: int = 60) -> int:
    """Create the schema if missing and `purchases` demo captures if there are none.
    Returns the number of purchases created (0 when the database already held some)."""
    from cardpack_service.db import schema_sql

    existing = purchase_count(database_url)
    if existing:
        return 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        if existing is None:
            conn.execute(schema_sql().encode())
        for index in range(purchases):
            conn.execute(
                "SELECT * FROM record_capture('demo', %s, 'payment.captured', %s, %s, %s, 500, 'usd')",
                (
                    f"evt_demo_{uuid.uuid4().hex}",
                    f"DEMO{uuid.uuid4().hex[:16].upper()}",
                    f"demo-user-{index % 17}",
                    DEMO_PACKS[index % len(DEMO_PACKS)],
                ),
            )
    return purchases
