"""One module per payment gateway: how its deliveries are verified and mapped.

Every adapter turns (raw body, headers) into a verified payload, and a payload into a
`StandardEvent` (or an `IgnoredEvent`). The webhook handler is shared by all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..config import Settings
from ..events import IgnoredEvent, StandardEvent


class SignatureRejected(Exception):
    """The delivery's signature is missing, wrong or outside the time window (401)."""

    def __init__(self, reason: str, *, event_id_hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id_hint = event_id_hint


class GatewayUnavailable(Exception):
    """Verification depends on a remote call that failed: 503 so the gateway retries."""


class GatewayNotConfigured(Exception):
    """The secret this gateway needs is not set: 503 until an operator configures it."""


class GatewayAdapter(Protocol):
    name: str
    verification_does_io: bool
    """True when verify() calls out over the network (run it off the event loop)."""

    def event_id_hint(self, headers: Mapping[str, str]) -> str | None:
        """An (unverified) delivery id from the headers, for the audit trail."""

    def verify(self, raw: bytes, headers: Mapping[str, str], settings: Settings) -> None:
        """Raise SignatureRejected unless the raw body carries a valid signature."""

    def to_event(self, payload: dict[str, Any]) -> StandardEvent | IgnoredEvent:
        """Map a verified payload; raise InvalidEvent when it cannot be mapped."""
