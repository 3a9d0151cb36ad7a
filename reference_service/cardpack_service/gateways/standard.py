"""The gateway-agnostic endpoint, signed per the Standard Webhooks spec.

The `standardwebhooks` library verifies the signature (its header parsing, its HMAC,
its constant-time comparison), but its timestamp window is fixed at 5 minutes. The
window here is SIGNATURE_TOLERANCE_S, in both directions: `_WindowedWebhook` replaces
only the library's timestamp check.
"""

from __future__ import annotations

import binascii
import functools
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ..config import Settings
from ..events import CAPTURED, REFUNDED, IgnoredEvent, InvalidEvent, StandardEvent
from . import GatewayNotConfigured, SignatureRejected

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class _WindowedWebhook(Webhook):
    """The library's verifier with the timestamp window given here, not its fixed 5 min."""

    def __init__(self, secret: str, tolerance_s: int) -> None:
        super().__init__(secret)
        self.tolerance_s = tolerance_s

    # `Webhook.verify` calls `self.__verify_timestamp`, which Python spells
    # `_Webhook__verify_timestamp`: defining that name here replaces the check. Should a
    # library release rename it, the library's own 5-minute check applies again (on top
    # of nothing less strict), and the window tests in tests/service fail.
    def _Webhook__verify_timestamp(self, timestamp_header: str) -> datetime:
        try:
            stamp = float(timestamp_header)
        except ValueError as exc:
            raise WebhookVerificationError("Invalid Signature Headers") from exc
        if not math.isfinite(stamp):
            raise WebhookVerificationError("Invalid Signature Headers")
        now = time.time()
        if stamp < now - self.tolerance_s:
            raise WebhookVerificationError("Message timestamp too old")
        if stamp > now + self.tolerance_s:
            raise WebhookVerificationError("Message timestamp too new")
        return datetime.fromtimestamp(stamp, tz=UTC)


@functools.lru_cache(maxsize=4)
def _webhook(secret: str, tolerance_s: int) -> Webhook:
    """One verifier per secret (it decodes the secret once), not one per delivery."""
    return _WindowedWebhook(secret, tolerance_s)


class StandardGateway:
    name = "standard"
    verification_does_io = False

    def event_id_hint(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("webhook-id")

    def verify(self, raw: bytes, headers: Mapping[str, str], settings: Settings) -> None:
        if settings.payments_webhook_secret is None:
            raise GatewayNotConfigured("PAYMENTS_WEBHOOK_SECRET is not set")
        webhook = _webhook(
            settings.payments_webhook_secret.get_secret_value(), settings.signature_tolerance_s
        )
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
