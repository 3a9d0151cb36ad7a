"""The gateway-agnostic standard event every gateway's payload is mapped to."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CAPTURED = "payment.captured"
REFUNDED = "payment.refunded"
EventType = Literal["payment.captured", "payment.refunded"]
MAX_AMOUNT = 2**63 - 1  # purchases.amount is a bigint: larger is bad input (422), not a 500
Gateway = Literal["stripe", "paypal", "standard"]


class StandardEvent(BaseModel):
    """`{"id", "type", "gateway", "payment_id", "user_id", "pack_type", "amount",
    "currency", "occurred_at"}` as DESIGN.md defines it. Captures need user and pack."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=100)
    gateway: str = Field(default="standard", min_length=1, max_length=50)
    payment_id: str = Field(min_length=1, max_length=255)
    user_id: str | None = Field(default=None, max_length=255)
    pack_type: str | None = Field(default=None, max_length=50)
    amount: int | None = Field(default=None, ge=0, le=MAX_AMOUNT)
    currency: str | None = Field(default=None, max_length=10)
    occurred_at: datetime | None = None

    @field_validator("id", "type", "gateway", "payment_id", "user_id", "pack_type", "currency")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        """PostgreSQL text cannot hold NUL: refuse it here as bad input, not at the database."""
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def build_event(**fields: Any) -> StandardEvent:
    """A StandardEvent from a gateway's mapped fields; a value out of range (an amount
    beyond a bigint, an id too long) is InvalidEvent 422 naming the event, so the audit
    row still says which event and payment it was."""
    try:
        return StandardEvent(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidEvent(
            f"invalid event: {where}: {error['msg']}",
            status_code=422,
            event_id=_text(fields.get("id")),
            event_type=_text(fields.get("type")),
            payment_id=_text(fields.get("payment_id")),
        ) from exc


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:255]


class IgnoredEvent(BaseModel):
    """A verified event of a type this service does not act on (still audited)."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    payment_id: str | None = None


class InvalidEvent(ValueError):
    """A verified payload that cannot be mapped: 400/422 with this message, audited."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        event_id: str | None = None,
        event_type: str | None = None,
        payment_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.event_id = event_id
        self.event_type = event_type
        self.payment_id = payment_id
