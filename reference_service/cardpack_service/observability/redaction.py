"""Scrub secrets out of text that leaves the process (log lines, error reports)."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# user:password@ in any URL-looking text (postgresql://, redis://, https://).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
# Things that look like credentials whatever their value: webhook secrets, bearer tokens,
# and password=... in libpq key=value strings.
_SHAPES = (
    re.compile(r"whsec_[A-Za-z0-9+/=_-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(password\s*=\s*)('[^']*'|\S+)"),
)
# One search that every text needing the substitutions above matches: most log text
# (event ids, gateway names, statuses) matches none, and is returned after it alone.
_ANY_SHAPE = re.compile(r"whsec_|(?i:bearer\s)|(?i:password\s*=)|://[^:/@\s]*:[^@/\s]+@")


class Redactor:
    """Replaces the given secret values, URL passwords and credential-shaped strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({value for value in secrets if value}, key=len, reverse=True)

    def values(self, text: str) -> str:
        """Only the known secret values replaced (cheap: for short structured fields)."""
        for value in self._secrets:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def __call__(self, text: str) -> str:
        text = self.values(text)
        if _ANY_SHAPE.search(text) is None:
            return text
        text = _URL_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{REDACTED}@", text)
        for shape in _SHAPES:
            text = shape.sub(lambda match: (match.group(1) if match.re.groups else "") + REDACTED, text)
        return text
