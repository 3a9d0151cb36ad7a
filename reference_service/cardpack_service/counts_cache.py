"""Row counts for /status, read at most once per TTL however often /status is called.

/status is unauthenticated (load balancers and monitors poll it), and three `count(*)`
per call would let anyone keep the database busy. The counts are informational, so a few
seconds old is fine; the dependency checks of /status stay live. Concurrent callers
share one refresh (a lock), and a failed refresh keeps nothing stale: the next call
tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class CountsCache:
    def __init__(
        self,
        read: Callable[[], Awaitable[dict[str, int]]],
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._value: dict[str, int] | None = None
        self._read_at = 0.0

    def _fresh(self) -> bool:
        return self._value is not None and self._clock() - self._read_at < self._ttl_s

    async def get(self) -> tuple[dict[str, int], float]:
        """The counts and their age in seconds; raises what the read raises."""
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # another caller may have refreshed while we waited
                    self._value = None
                    value = await self._read()
                    self._value, self._read_at = value, self._clock()
        assert self._value is not None  # nosec B101 # type narrowing: set just above
        return dict(self._value), self._clock() - self._read_at
