"""Admin reads behind the bearer token: a purchase with its cards, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
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
    gateway: str
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


class Ambiguous(BaseModel):
    detail: str
    gateways: list[str]


GatewayQuery = Annotated[
    str | None,
    Query(max_length=50, description="Only this gateway's purchase (stripe, paypal, standard)"),
]


@router.get(
    "/purchases/{payment_id}",
    response_model=Purchase,
    responses={
        401: {"description": "Admin token missing or wrong"},
        404: {"description": "No purchase for this payment (and gateway)"},
        409: {
            "model": Ambiguous,
            "description": "Without ?gateway=: more than one gateway has a purchase for this id",
        },
    },
)
async def get_purchase(payment_id: str, pool: PoolDep, gateway: GatewayQuery = None) -> Any:
    """The payment's purchase and its cards. Payment ids are the gateways' own, so two
    gateways can each have a purchase for the same id: with `?gateway=` the answer is that
    gateway's; without it, the only one there is, or 409 naming the gateways to choose from."""
    purchases = await db.fetch_purchases(pool, payment_id, gateway)
    if not purchases:
        where = f" from {gateway}" if gateway else ""
        raise HTTPException(status_code=404, detail=f"no purchase for payment {payment_id!r}{where}")
    if len(purchases) > 1:
        gateways = [purchase["gateway"] for purchase in purchases]
        return JSONResponse(
            status_code=409,
            content={
                "detail": f"payment {payment_id!r} is known to {len(gateways)} gateways: add ?gateway=",
                "gateways": gateways,
            },
        )
    return purchases[0]


@router.get(
    "/audit",
    response_model=AuditTrail,
    responses={401: {"description": "Admin token missing or wrong"}},
)
async def get_audit(
    pool: PoolDep,
    payment_id: Annotated[str | None, Query(max_length=255)] = None,
    event_id: Annotated[str | None, Query(max_length=255)] = None,
    gateway: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Entries oldest first; filtered by payment, event id and/or gateway, else the newest
    `limit`."""
    entries = await db.fetch_audit(
        pool, payment_id=payment_id, event_id=event_id, gateway=gateway, limit=limit
    )
    return {"entries": entries}
