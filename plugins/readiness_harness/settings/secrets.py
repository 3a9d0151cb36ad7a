"""Secrets that cannot print themselves, and scrubbing for anything the harness writes.

A `Secret` holds a value the harness must use (to sign, to authenticate) but never show:
its `repr` and `str` are redacted, so a failing step, pytest's assertion rewriting, a
dataclass repr or an f-string shows `Secret('***')`. The value comes out only through
`reveal()`, at the point of use.

Every secret value is also remembered by `scrub()`, the last line of defence: the
report writers, the Allure results and attachments, the console (pytest's terminal, its
captured output and logs, the CLI's stdout and stderr) pass their text through it, so a
secret that leaked into an error message is still replaced by `***`. It is remembered
with the forms a leak would carry it in: JSON-escaped, percent-encoded, base64 and hex,
the key inside a Standard Webhooks `whsec_` secret (and its bytes in hex), and the
base64 `client_id:client_secret` of PayPal's Basic authentication.
URLs are redacted with `redact_url()` (password and token-like query values).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_bytes, token_hex, token_urlsafe
from typing import IO, Any, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

REDACTED = "***"
MIN_SCRUB_LENGTH = 6
"""Shorter values are not scrubbed from text: they would match ordinary words."""

_SENSITIVE_QUERY_KEYS = re.compile(r"pass|secret|token|key|auth|sig", re.IGNORECASE)


STANDARD_KEY_PREFIX = "whsec_"


def leak_forms(value: str) -> set[str]:
    """`value` and the encodings it would travel in if it leaked: JSON-escaped,
    percent-encoded, base64, hex; for a `whsec_` secret also its key and the key's bytes
    in hex (what a Standard Webhooks or Stripe signer holds)."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        base64.b64encode(value.encode()).decode().rstrip("="),
        value.encode().hex(),
    }
    if value.startswith(STANDARD_KEY_PREFIX):
        key = value.removeprefix(STANDARD_KEY_PREFIX)
        forms.add(key)
        with contextlib.suppress(binascii.Error, ValueError):  # a Stripe key is not base64
            forms.add(base64.b64decode(key, validate=True).hex())
    return {form for form in forms if len(form) >= MIN_SCRUB_LENGTH}


def basic_auth(user: str, password: str) -> str:
    """The credentials of an HTTP Basic `Authorization` header (base64 of `user:password`)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class _Known:
    """Every secret value this process has held (in every leak form), for scrubbing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._encoded: tuple[bytes, ...] = ()

    def add(self, value: str) -> None:
        if len(value) < MIN_SCRUB_LENGTH:
            return
        forms = leak_forms(value)
        with self._lock:
            if forms <= self._values:
                return
            self._values |= forms
            self._ordered = tuple(sorted(self._values, key=len, reverse=True))  # longest first
            self._encoded = tuple(form.encode() for form in self._ordered)

    def values(self) -> tuple[str, ...]:
        return self._ordered

    def encoded(self) -> tuple[bytes, ...]:
        return self._encoded


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


def known_values() -> tuple[str, ...]:
    """Every value (and leak form) `scrub()` replaces, longest first."""
    return _KNOWN.values()


ELLIPSIS = "..."
MIN_CUT_LENGTH = 6
"""The shortest piece of a cut secret that is replaced (see `_scrub_cuts`)."""


def scrub(text: str) -> str:
    """`text` with every known secret value replaced by `***`, and the pieces of one that
    a shortened repr cut in two (`'canary-sec...cret-tail'`) too."""
    for value in _KNOWN.values():
        if value in text:
            text = text.replace(value, REDACTED)
    if ELLIPSIS in text:
        text = _scrub_cuts(text)
    return text


def _scrub_cuts(text: str) -> str:
    """pytest (and reprlib) shorten a long repr by keeping its start and end around
    `...`: a secret there shows its first characters before the dots and its last ones
    after them. Replace a secret's prefix that ends right before `...` and a suffix that
    starts right after it (at least MIN_CUT_LENGTH characters of either)."""
    values = _KNOWN.values()
    pieces = text.split(ELLIPSIS)
    for index in range(len(pieces) - 1):
        before, after = pieces[index], pieces[index + 1]
        for value in values:
            before = _cut_prefix(before, value)
            after = _cut_suffix(after, value)
        pieces[index], pieces[index + 1] = before, after
    return ELLIPSIS.join(pieces)


def _cut_prefix(before: str, value: str) -> str:
    for length in range(min(len(value) - 1, len(before)), MIN_CUT_LENGTH - 1, -1):
        if before.endswith(value[:length]):
            return before[:-length] + REDACTED
    return before


def _cut_suffix(after: str, value: str) -> str:
    for length in range(min(len(value) - 1, len(after)), MIN_CUT_LENGTH - 1, -1):
        if after.startswith(value[-length:]):
            return REDACTED + after[length:]
    return after


def scrub_bytes(data: bytes) -> bytes:
    """`data` with every known secret value (UTF-8) replaced by `***`, cut pieces too."""
    for value in _KNOWN.encoded():
        if value in data:
            data = data.replace(value, REDACTED.encode())
    if ELLIPSIS.encode() in data:
        data = _scrub_cuts(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    return data


def scrub_file(path: Path) -> bool:
    """Scrub a regular file in place (never through a symlink); True when it changed.
    The scrubbed text is written beside it and renamed over it, keeping its mode."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    data = path.read_bytes()
    cleaned = scrub_bytes(data)
    if cleaned == data:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.scrub")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(cleaned)
        os.fchmod(handle.fileno(), stat.S_IMODE(info.st_mode))
    os.replace(tmp, path)
    return True


def scrub_tree(folder: Path) -> list[Path]:
    """Scrub every regular file below `folder` (symlinks are not followed); the files
    that held a secret."""
    changed: list[Path] = []
    if not folder.is_dir():
        return changed
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if scrub_file(path):
                changed.append(path)
    return changed


def _remember_url(parts: Any) -> None:
    if parts.password:
        remember(parts.password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SENSITIVE_QUERY_KEYS.search(key):
            remember(value)


def remember_url(url: str) -> None:
    """Treat the password and the token-like query values of `url` as secrets."""
    try:
        _remember_url(urlsplit(url))
    except ValueError:
        return


def redact_url(url: str) -> str:
    """The URL with its password and any token-like query values replaced by `***`
    (and remembered, so `scrub()` finds them elsewhere too). A string that is not a URL
    is returned scrubbed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    _remember_url(parts)
    netloc = parts.netloc
    if parts.password:
        user = parts.username or ""
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{user}:{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        cleaned = [(key, REDACTED if _SENSITIVE_QUERY_KEYS.search(key) else value) for key, value in pairs]
        query = urlencode(cleaned, safe="*")
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


URL_ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "READINESS_TARGET_URL", "PAYPAL_API_BASE")
"""Environment variables holding URLs whose passwords and tokens are secrets."""


def remember_environment(environ: Mapping[str, str] | None = None) -> None:
    """Remember the secrets this process was given: the secret variables and the
    passwords of the URL variables (for `scrub()` in the CLI, before anything prints)."""
    env = os.environ if environ is None else environ
    for name in SECRET_ENVIRONMENT:
        if env.get(name):
            remember(env[name])
    for name in URL_ENVIRONMENT:
        if env.get(name):
            remember_url(env[name])
    client_id, client_secret = env.get("PAYPAL_CLIENT_ID"), env.get("PAYPAL_CLIENT_SECRET")
    if client_id and client_secret:
        remember(basic_auth(client_id, client_secret))


class ScrubbingStream:
    """A text stream that scrubs what is written to it before passing it on (the
    terminal, stdout, stderr); everything else is the wrapped stream's."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    @property
    def wrapped(self) -> IO[str]:
        return self._stream

    def write(self, text: str) -> int:
        self._stream.write(scrub(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stream(stream: IO[str]) -> IO[str]:
    """`stream` wrapped in a ScrubbingStream (once)."""
    if isinstance(stream, ScrubbingStream):
        return stream
    return cast(IO[str], ScrubbingStream(stream))  # duck-typed: write/flush scrub, the rest delegates


class ScrubbingFilter(logging.Filter):
    """A logging filter (for handlers) that scrubs each record's message and traceback
    before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def new_standard_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 24 random bytes."""
    return STANDARD_KEY_PREFIX + base64.b64encode(token_bytes(24)).decode()


def standard_secret_problem(secret: str) -> str | None:
    """Why the standardwebhooks library cannot sign with `secret` (`whsec_` and the key
    in base64, decoded the library's own lenient way), or None; never shows the secret."""
    from standardwebhooks.webhooks import Webhook

    try:
        Webhook(secret)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return (
            "it is not whsec_ followed by a base64 key (A-Z, a-z, 0-9, + and /, with = padding): "
            "the standardwebhooks library cannot read it, so no delivery could be signed with it"
        )
    return None


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

    def __post_init__(self) -> None:
        # PayPal's OAuth call carries the client secret as base64("id:secret").
        remember(basic_auth(self.paypal_client_id, self.paypal_client_secret.reveal()))

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
