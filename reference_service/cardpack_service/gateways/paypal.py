"""PayPal: verified through PayPal's own verify-webhook-signature REST call.

The service gets an OAuth token (client credentials) from `PAYPAL_API_BASE`, then posts
the transmission headers and the raw event to /v1/notifications/verify-webhook-signature.
The raw body is embedded verbatim so PayPal checks exactly the bytes it signed.

`PAYMENT.CAPTURE.COMPLETED` captures (payment id = the capture id, `custom_id` =
"<user_id>:<pack_type>"); `PAYMENT.CAPTURE.REFUNDED` refunds (payment id = the capture id
from the refund's `rel: "up"` link).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from ..config import Settings
from ..events import CAPTURED, MAX_AMOUNT, REFUNDED, IgnoredEvent, InvalidEvent, StandardEvent, build_event
from ..payload import MalformedJson, parse_json
from . import GatewayNotConfigured, GatewayUnavailable, SignatureRejected

CAPTURE_TYPE = "PAYMENT.CAPTURE.COMPLETED"
REFUND_TYPE = "PAYMENT.CAPTURE.REFUNDED"
TRANSMISSION_HEADERS = (
    "paypal-auth-algo",
    "paypal-cert-url",
    "paypal-transmission-id",
    "paypal-transmission-sig",
    "paypal-transmission-time",
)
REQUEST_TIMEOUT_S = 10
_MAX_VALUE = Decimal(MAX_AMOUNT) / 100  # compared, never multiplied: no overflow on "1e999999999"


class _TokenCache:
    """One OAuth token per process, renewed a minute before PayPal says it expires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._key: tuple[str, str] | None = None

    def get(self, settings: Settings) -> str:
        assert settings.paypal_client_id and settings.paypal_client_secret  # nosec B101 # verify() checked both
        key = (settings.paypal_api_base, settings.paypal_client_id)
        with self._lock:
            if self._token and self._key == key and time.monotonic() < self._expires_at:
                return self._token
            response = requests.post(
                f"{settings.paypal_api_base}/v1/oauth2/token",
                auth=(settings.paypal_client_id, settings.paypal_client_secret.get_secret_value()),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
                timeout=REQUEST_TIMEOUT_S,
            )
            if response.status_code != 200:
                raise GatewayUnavailable(f"PayPal OAuth token request failed ({response.status_code})")
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + max(0, int(body.get("expires_in", 0)) - 60)
            self._key = key
            return self._token

    def clear(self) -> None:
        with self._lock:
            self._token = None


class PayPalGateway:
    name = "paypal"
    verification_does_io = True

    def __init__(self) -> None:
        self.tokens = _TokenCache()

    def event_id_hint(self, headers: Mapping[str, str]) -> str | None:
        return headers.get("paypal-transmission-id")

    def verify(self, raw: bytes, headers: Mapping[str, str], settings: Settings) -> None:
        if not (settings.paypal_webhook_id and settings.paypal_client_id and settings.paypal_client_secret):
            raise GatewayNotConfigured(
                "PAYPAL_WEBHOOK_ID, PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET must be set"
            )
        hint = self.event_id_hint(headers)
        missing = [name for name in TRANSMISSION_HEADERS if not headers.get(name)]
        if missing:
            raise SignatureRejected(f"missing PayPal headers: {', '.join(missing)}", event_id_hint=hint)
        _check_transmission_time(headers["paypal-transmission-time"], settings, hint)
        # The raw body is spliced into the verification request, so it must be JSON: checked
        # here without recursing (a body of 200,000 `[` is a 400, not a RecursionError).
        try:
            parse_json(raw)
        except MalformedJson as exc:
            raise InvalidEvent(str(exc), event_id=hint) from exc
        raw_text = raw.decode("utf-8")
        envelope = json.dumps(
            {
                "auth_algo": headers["paypal-auth-algo"],
                "cert_url": headers["paypal-cert-url"],
                "transmission_id": headers["paypal-transmission-id"],
                "transmission_sig": headers["paypal-transmission-sig"],
                "transmission_time": headers["paypal-transmission-time"],
                "webhook_id": settings.paypal_webhook_id,
                "webhook_event": "__RAW__",
            }
        ).replace('"__RAW__"', raw_text)
        status = self._verification_status(envelope, settings)
        if status != "SUCCESS":
            raise SignatureRejected(f"PayPal verification status {status!r}", event_id_hint=hint)

    def _verification_status(self, envelope: str, settings: Settings) -> str:
        try:
            for attempt in (1, 2):
                token = self.tokens.get(settings)
                response = requests.post(
                    f"{settings.paypal_api_base}/v1/notifications/verify-webhook-signature",
                    data=envelope.encode("utf-8"),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                    timeout=REQUEST_TIMEOUT_S,
                )
                if response.status_code == 401 and attempt == 1:
                    self.tokens.clear()  # token revoked or expired early: renew once
                    continue
                if response.status_code != 200:
                    raise GatewayUnavailable(
                        f"PayPal verify-webhook-signature failed ({response.status_code})"
                    )
                return str(response.json().get("verification_status"))
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise GatewayUnavailable(f"PayPal API unreachable: {type(exc).__name__}") from exc
        raise GatewayUnavailable("PayPal rejected a fresh OAuth token")

    def to_event(self, payload: dict[str, Any]) -> StandardEvent | IgnoredEvent:
        event_id = str(payload.get("id") or "")
        event_type = str(payload.get("event_type") or "")
        resource = payload.get("resource") or {}
        if not isinstance(resource, dict):
            raise InvalidEvent("resource must be an object", event_id=event_id)
        if event_type == CAPTURE_TYPE:
            return self._capture(event_id, resource)
        if event_type == REFUND_TYPE:
            return self._refund(event_id, resource)
        return IgnoredEvent(id=event_id, type=event_type, payment_id=_str_or_none(resource.get("id")))

    def _capture(self, event_id: str, resource: dict[str, Any]) -> StandardEvent:
        capture_id = resource.get("id")
        user_id, _, pack_type = str(resource.get("custom_id") or "").partition(":")
        if not event_id or not capture_id or not user_id or not pack_type:
            raise InvalidEvent(
                "PAYMENT.CAPTURE.COMPLETED needs an event id, resource.id and "
                "custom_id '<user_id>:<pack_type>'",
                status_code=422,
                event_id=event_id or None,
                event_type=CAPTURE_TYPE,
                payment_id=_str_or_none(capture_id),
            )
        amount = resource.get("amount") or {}
        if not isinstance(amount, dict):
            raise InvalidEvent("resource.amount must be an object", event_id=event_id)
        return build_event(
            id=event_id,
            type=CAPTURED,
            gateway=self.name,
            payment_id=str(capture_id),
            user_id=user_id,
            pack_type=pack_type,
            amount=_minor_units(amount.get("value"), event_id, str(capture_id)),
            currency=_str_or_none(amount.get("currency_code")),
        )

    def _refund(self, event_id: str, resource: dict[str, Any]) -> StandardEvent:
        capture_id = None
        for link in resource.get("links") or []:
            if isinstance(link, dict) and link.get("rel") == "up" and link.get("href"):
                capture_id = str(link["href"]).rstrip("/").rsplit("/", 1)[-1]
        if not event_id or not capture_id:
            raise InvalidEvent(
                "PAYMENT.CAPTURE.REFUNDED needs an event id and a rel='up' capture link",
                status_code=422,
                event_id=event_id or None,
                event_type=REFUND_TYPE,
            )
        return build_event(id=event_id, type=REFUNDED, gateway=self.name, payment_id=capture_id)


def _check_transmission_time(value: str, settings: Settings, hint: str | None) -> None:
    try:
        sent_at = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise SignatureRejected("unparseable PAYPAL-TRANSMISSION-TIME", event_id_hint=hint) from exc
    if abs(time.time() - sent_at) > settings.signature_tolerance_s:
        raise SignatureRejected("PAYPAL-TRANSMISSION-TIME outside the allowed window", event_id_hint=hint)


def _minor_units(value: object, event_id: str, capture_id: str) -> int | None:
    """PayPal's decimal string ("5.00") in cents. Not a number: None, as before. A number
    beyond a bigint, infinite or NaN: 422 (never int() of "1e999999999", which would
    build a billion-digit integer)."""
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite() or number.copy_abs() > _MAX_VALUE:
        raise InvalidEvent(
            "resource.amount.value is out of range",
            status_code=422,
            event_id=event_id,
            event_type=CAPTURE_TYPE,
            payment_id=capture_id,
        )
    return int(number * 100)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)
