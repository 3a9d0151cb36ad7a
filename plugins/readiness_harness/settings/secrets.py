"""Secrets that cannot print themselves, and scrubbing for anything the harness writes.

A `Secret` holds a value the harness must use (to sign, to authenticate) but never show:
its `repr` and `str` are redacted, so a failing step, pytest's assertion rewriting, a
dataclass repr or an f-string shows `Secret('***')`. The value comes out only through
`reveal()`, at the point of use.

Every revealed value is also remembered by `scrub()`, the last line of defence: the
report writers, the Allure attachments and the console reports pass their text through
it, so a secret that leaked into an error message is still replaced by `***`.
URLs are redacted with `redact_url()` (password and token-like query values).
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_bytes, token_hex, token_urlsafe
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
MIN_SCRUB_LENGTH = 6
"""Shorter values are not scrubbed from text: they would match ordinary words."""

_SENSITIVE_QUERY_KEYS = re.compile(r"pass|secret|token|key|auth|sig", re.IGNORECASE)


class _Known:
    """Every secret value this process has held, for scrubbing text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        if len(value) >= MIN_SCRUB_LENGTH:
            with self._lock:
                self._values.add(value)

    def values(self) -> list[str]:
        with self._lock:
            return sorted(self._values, key=len, reverse=True)  # longest first


_KNOWN = _Known()


class Secret:
    """A secret value: redacted wherever it is printed; `reveal()` at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        self._value = value
        _KNOWN.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not pickled (it would leave the process in clear)")


def remember(value: str) -> None:
    """Treat `value` as secret in `scrub()` without wrapping it (a password inside a URL)."""
    _KNOWN.add(value)


def scrub(text: str) -> str:
    """`text` with every known secret value replaced by `***`."""
    for value in _KNOWN.values():
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_url(url: str) -> str:
    """The URL with its password and any token-like query values replaced by `***`.
    A string that is not a URL is returned scrubbed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if parts.password:
        remember(parts.password)
        user = parts.username or ""
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{user}:{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [(key, REDACTED if _SENSITIVE_QUERY_KEYS.search(key) else value) for key, value in pairs]
        query = urlencode(cleaned, safe="*")
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def new_standard_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(token_bytes(24)).decode()


SECRET_ENVIRONMENT = (
    "PAYMENTS_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_SECRET",
    "ADMIN_TOKEN",
    "PAYPAL_CLIENT_SECRET",
)
"""The environment variables that hold the target's secrets (read only from the
environment, never from flags, which show in process lists)."""
IDENTIFIER_ENVIRONMENT = ("PAYPAL_WEBHOOK_ID", "PAYPAL_CLIENT_ID")
"""PayPal identifiers the harness and the target share: configuration, not secrets."""


@dataclass(frozen=True)
class Secrets:
    """What the harness (which signs and reads) shares with the target (which verifies)."""

    payments_webhook_secret: Secret
    stripe_webhook_secret: Secret
    admin_token: Secret
    paypal_client_secret: Secret
    paypal_webhook_id: str
    paypal_client_id: str
    generated: tuple[str, ...] = ()
    """Names of the variables that were not in the environment and were made up here."""

    def service_environment(self) -> dict[str, str]:
        """The variables as the service's process reads them (revealed: for a child's env)."""
        return {
            "PAYMENTS_WEBHOOK_SECRET": self.payments_webhook_secret.reveal(),
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret.reveal(),
            "ADMIN_TOKEN": self.admin_token.reveal(),
            "PAYPAL_CLIENT_SECRET": self.paypal_client_secret.reveal(),
            "PAYPAL_WEBHOOK_ID": self.paypal_webhook_id,
            "PAYPAL_CLIENT_ID": self.paypal_client_id,
        }

    def given(self, name: str) -> bool:
        """True when `name` came from the environment (the target's own value)."""
        return name not in self.generated

    def values(self) -> list[Secret]:
        return [
            self.payments_webhook_secret,
            self.stripe_webhook_secret,
            self.admin_token,
            self.paypal_client_secret,
        ]


def load_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    """The secrets from the environment; each one missing is generated (and named in
    `generated`), which is what the embedded default wants and what a deployed target's
    lines must notice."""
    env = os.environ if environ is None else environ
    generated: list[str] = []

    def pick(name: str, make: Callable[[], str]) -> str:
        value = env.get(name) or ""
        if not value:
            generated.append(name)
            return make()
        return value

    return Secrets(
        payments_webhook_secret=Secret(pick("PAYMENTS_WEBHOOK_SECRET", new_standard_secret)),
        stripe_webhook_secret=Secret(pick("STRIPE_WEBHOOK_SECRET", lambda: "whsec_" + token_hex(24))),
        admin_token=Secret(pick("ADMIN_TOKEN", lambda: token_urlsafe(32))),
        paypal_client_secret=Secret(pick("PAYPAL_CLIENT_SECRET", lambda: token_urlsafe(24))),
        paypal_webhook_id=pick("PAYPAL_WEBHOOK_ID", lambda: "WH-" + token_hex(8).upper()),
        paypal_client_id=pick("PAYPAL_CLIENT_ID", lambda: "harness-" + token_hex(6)),
        generated=tuple(generated),
    )


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    """Write `NAME=value` lines to `path`, created 0600 (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.writelines(f"{name}={value}\n" for name, value in values.items())
    return path
