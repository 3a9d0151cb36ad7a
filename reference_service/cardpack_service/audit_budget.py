"""A bound on the audit rows that unverified deliveries may write.

Anyone can send a delivery without a valid signature, and the audit trail is
append-only: left alone, a flood of them grows the table without bound. Per gateway and
per fixed interval, the first `per_interval` unverified deliveries are audited in full;
the rest are only counted (by refusal status), and when the interval is over the counts
go into one aggregated audit row for it. Verified deliveries are never limited, and every
refusal still counts in `webhook_deliveries_total`.

State is per process: with W workers the bound is W x (per_interval + 1) rows per
gateway and interval. Aggregated rows are written by a background task (`run`), and once
more at shutdown (`flush`); a window whose row cannot be written (database down) is kept
and written later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .metrics import AUDIT_ROWS_SUPPRESSED

logger = logging.getLogger(__name__)

WriteRow = Callable[[str, str], Awaitable[None]]
"""(gateway, detail) -> writes one aggregated 'rejected' audit row."""


@dataclass
class _Window:
    started: float
    started_wall: datetime
    itemised: int = 0
    suppressed: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class ClosedWindow:
    gateway: str
    started: datetime
    ended: datetime
    counts: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def detail(self, per_interval: int) -> str:
        by_status = ", ".join(f"{count} x {status}" for status, count in sorted(self.counts.items()))
        return (
            f"{self.total} more unverified deliveries not itemised "
            f"(audit limit {per_interval} per interval) from {self.started.isoformat(timespec='seconds')} "
            f"to {self.ended.isoformat(timespec='seconds')}: {by_status}"
        )


class AuditBudget:
    def __init__(
        self, per_interval: int, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_interval = per_interval
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._closed: list[ClosedWindow] = []
        self._flush_lock = asyncio.Lock()

    def admit(self, gateway: str, status: int) -> bool:
        """True: audit this unverified delivery in full. False: it was counted instead."""
        window = self._current(gateway)
        if window.itemised < self.per_interval:
            window.itemised += 1
            return True
        window.suppressed[status] += 1
        AUDIT_ROWS_SUPPRESSED.labels(gateway).inc()
        return False

    def _current(self, gateway: str) -> _Window:
        now = self._clock()
        window = self._windows.get(gateway)
        if window is None or now - window.started >= self.interval_s:
            if window is not None:
                self._close(gateway, window)
            window = _Window(now, datetime.now(UTC))
            self._windows[gateway] = window
        return window

    def _close(self, gateway: str, window: _Window) -> None:
        if window.suppressed:
            self._closed.append(
                ClosedWindow(gateway, window.started_wall, datetime.now(UTC), dict(window.suppressed))
            )

    def close_expired(self, *, all_windows: bool = False) -> None:
        """Move windows whose interval is over (or all, at shutdown) to the write queue."""
        now = self._clock()
        for gateway, window in list(self._windows.items()):
            if all_windows or now - window.started >= self.interval_s:
                self._close(gateway, window)
                del self._windows[gateway]

    async def flush(self, write: WriteRow, *, all_windows: bool = False) -> int:
        """Write one aggregated row per closed window; returns how many were written.
        Windows whose row fails to write stay queued for the next flush."""
        async with self._flush_lock:
            self.close_expired(all_windows=all_windows)
            pending, self._closed = self._closed, []
            written = 0
            for index, closed in enumerate(pending):
                try:
                    await write(closed.gateway, closed.detail(self.per_interval))
                except Exception as exc:  # database down: keep the rest for the next flush
                    logger.warning(
                        "could not write the aggregated audit row for %s (%s); retrying later",
                        closed.gateway,
                        type(exc).__name__,
                    )
                    self._closed = pending[index:] + self._closed
                    break
                written += 1
            return written

    async def run(self, write: WriteRow) -> None:
        """Flush closed windows every interval (at most every 5 s) until cancelled."""
        period = min(self.interval_s, 5.0)
        while True:
            await asyncio.sleep(period)
            with contextlib.suppress(Exception):  # flush() logs; the loop must go on
                await self.flush(write)
