"""The gateway-agnostic endpoint, signed per the Standard Webhooks spec."""

from __future__ import annotations

import binascii
import functools
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ..config import Settings
from ..events import CAPTURED, REFUNDED, IgnoredEvent, InvalidEvent, StandardEvent
from . import GatewayNotConfigured, SignatureRejected

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@functools.lru_cache(maxsize=4)
def _webhook(secret: str) -> Webhook:
    """One verifier per secret (it decodes the secret once), not one per delivery."""
    return Webhook(secret)


class StandardGateway:
    name = "standard"
    verification_does_io = False

    def event_id_hint(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("webhook-id")

    def verify(self, raw: bytes, headers: Mapping[str, str], settings: Settings) -> None:
        if settings.payments_webhook_secret is None:
            raise GatewayNotConfigured("PAYMENTS_WEBHOOK_SECRET is not set")
        webhook = _webhook(settings.payments_webhook_secret.get_secret_value())
        signature_headers = {
            name: value for name in SIGNATURE_HEADERS if (value := headers.get(name)) is not None
        }
        try:
            webhook.verify(raw, signature_headers, json_parse=False)
        except WebhookVerificationError as exc:
            raise SignatureRejected(str(exc), event_id_hint=self.event_id_hint(headers)) from exc
        except (ValueError, binascii.Error) as exc:  # malformed signature header or body
            raise SignatureRejected(
                "malformed webhook-signature header", event_id_hint=self.event_id_hint(headers)
            ) from exc

    def to_event(self, payload: dict[str, Any]) -> StandardEvent | IgnoredEvent:
        event_type = payload.get("type")
        if event_type not in (CAPTURED, REFUNDED):
            return IgnoredEvent(
                id=str(payload.get("id", "")),
                type=str(event_type),
                payment_id=_str_or_none(payload.get("payment_id")),
            )
        try:
            event = StandardEvent.model_validate(payload)
        except ValidationError as exc:
            raise InvalidEvent(
                f"invalid standard event: {_first_error(exc)}",
                status_code=422,
                event_id=_str_or_none(payload.get("id")),
                event_type=str(event_type),
                payment_id=_str_or_none(payload.get("payment_id")),
            ) from exc
        return event


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)[:255]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    return f"{location}: {error['msg']}"
