"""JSON from untrusted bytes, without recursing deeper than MAX_JSON_DEPTH.

`json.loads` recurses once per nesting level; 200,000 `[` raise RecursionError from deep
inside it. Every body is measured first, without recursion, and anything nested deeper
than MAX_JSON_DEPTH is refused as malformed before any parser sees it, so `json.loads`
only ever gets shallow input.

The measure is cheap on the hot path: a body with at most MAX_JSON_DEPTH opening
brackets cannot be nested deeper than that (two `bytes.count` calls, C speed). Only a
body with more brackets is measured properly: strings are blanked out (brackets inside
them do not nest), then each pass of one regular expression removes the innermost
bracket pairs; a body still holding brackets after MAX_JSON_DEPTH passes is too deep (or
unbalanced, which is malformed too). Every step is linear in the body, and there are at
most MAX_JSON_DEPTH + 1 of them.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 32
"""Real gateway events nest fewer than 10 levels (a Stripe charge inside an event: 6)."""

# A string, or an unterminated one up to the end: every attempt that starts at a quote
# succeeds, and the repetition is possessive, so blanking strings is linear in the body
# (with a plain `"(?:[^"\\]|\\.)*"`, a body of `"\"\"\"...` fails at every quote after
# scanning to its end: quadratic, seconds of CPU for 256 KiB). An unterminated string is
# malformed JSON anyway: the parser stops there, at a depth measured before it.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_INNERMOST = re.compile(rb"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_BRACKET = re.compile(rb"[\[\]{}]")


class MalformedJson(ValueError):
    """The body is not JSON this service parses (bad syntax, bad UTF-8, or too deep)."""


def nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `raw` nests arrays/objects deeper than `limit` (or its brackets do not
    balance within that depth). Never recurses."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    text = _STRING.sub(b'""', raw)
    for _ in range(limit):
        text, removed = _INNERMOST.subn(b"0", text)
        if not removed:
            break
    return _BRACKET.search(text) is not None


def parse_json(raw: bytes) -> Any:
    """The parsed body; MalformedJson when it is not valid UTF-8 JSON or too deep.

    UTF-8 only (RFC 8259 section 8.1; `json.loads` would also guess UTF-16 and UTF-32 from
    bytes): in valid UTF-8 the bytes of `"`, `\\`, brackets and braces never occur inside
    another character, so the byte-level depth measure above is exact."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJson("body is not valid UTF-8") from exc
    if nesting_exceeds(raw):
        raise MalformedJson(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, and integers beyond Python's digit limit
        raise MalformedJson("body is not valid JSON") from exc
