"""Admin reads behind the bearer token: a purchase with its cards, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from .. import db
from ..deps import AdminDep, PoolDep

router = APIRouter(tags=["admin"], dependencies=[AdminDep])


class Card(BaseModel):
    card_id: int
    artist_id: int
    revoked: bool


class Purchase(BaseModel):
    purchase_id: int
    payment_id: str
    user_id: str | None
    pack_type: str | None
    status: str
    cards: list[Card]


class AuditEntry(BaseModel):
    event_id: str | None
    gateway: str
    type: str | None
    payment_id: str | None
    outcome: str
    detail: str | None
    received_at: datetime


class AuditTrail(BaseModel):
    entries: list[AuditEntry]


@router.get(
    "/purchases/{payment_id}",
    response_model=Purchase,
    responses={
        401: {"description": "Admin token missing or wrong"},
        404: {"description": "No purchase for this payment"},
    },
)
async def get_purchase(payment_id: str, pool: PoolDep) -> dict[str, Any]:
    purchase = await db.fetch_purchase(pool, payment_id)
    if purchase is None:
        raise HTTPException(status_code=404, detail=f"no purchase for payment {payment_id!r}")
    return purchase


@router.get(
    "/audit",
    response_model=AuditTrail,
    responses={401: {"description": "Admin token missing or wrong"}},
)
async def get_audit(
    pool: PoolDep,
    payment_id: Annotated[str | None, Query(max_length=255)] = None,
    event_id: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Entries oldest first; filtered by payment and/or event id, else the newest `limit`."""
    entries = await db.fetch_audit(pool, payment_id=payment_id, event_id=event_id, limit=limit)
    return {"entries": entries}
