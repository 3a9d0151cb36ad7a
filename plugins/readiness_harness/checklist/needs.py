"""What each example asked of the target: the capabilities it required while it ran.

`Target.require` and the gateway simulator note every capability a line asks for (given
or not) in the frames open at that moment. The recorder opens one frame per test and one
per fixture set-up, so a capability a session fixture required once (the drill's
database, say) counts for every example that uses that fixture, not only the first.
The result is in readiness.json (`needs` of every example and line) and is what
`readiness map --needs` prints as the README's table of what each line needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

GATEWAY_PREFIX = "gateway:"
"""A need for one gateway's deliveries: `gateway:stripe` (its secret, or PayPal's sandbox)."""


class NeedsLog:
    """Open frames collecting the capabilities noted while they are open."""

    def __init__(self) -> None:
        self._frames: list[set[str]] = []

    def note(self, capability: str) -> None:
        for frame in self._frames:
            frame.add(capability)

    @contextmanager
    def frame(self) -> Iterator[set[str]]:
        collected: set[str] = set()
        self._frames.append(collected)
        try:
            yield collected
        finally:
            # by identity: two frames that noted the same things are equal sets
            self._frames = [frame for frame in self._frames if frame is not collected]


NEEDS = NeedsLog()
"""The run's log: one pytest run records one example at a time."""


NEEDS_ATTRIBUTE = "readiness_needs"
"""Set on the exception that ends an example for want of a capability: a session fixture
that failed so is not set up again (pytest re-raises that same exception to every later
example that asks for it), so the recorder reads the need from the exception."""


def note_need(capability: str) -> None:
    NEEDS.note(capability)


def mark_needed(error: BaseException, capability: str) -> None:
    setattr(error, NEEDS_ATTRIBUTE, capability)


def needed_by(error: BaseException | None) -> str | None:
    value = getattr(error, NEEDS_ATTRIBUTE, None)
    return value if isinstance(value, str) else None


def note_gateway(gateway: str) -> None:
    NEEDS.note(GATEWAY_PREFIX + gateway)
