"""The window a key metric is read over: its PromQL duration reaches back to the start to
the millisecond, never before it, and never a second into it (a short window on the
embedded default, read a second late, counted its own traffic as already there)."""

from __future__ import annotations

import pytest

from readiness_harness.monitoring.keymetrics import Window, delta


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (1000.0, 1000.0 + 7 * 86400, "604800s"),
        (1796139388.901, 1796139390.7311, "1830ms"),
        (1796139388.9014988, 1796139390.731128, "1829ms"),
        (100.0, 100.0004, "1ms"),
    ],
)
def test_the_range_is_the_window_to_the_millisecond(start: float, end: float, expected: str) -> None:
    assert Window(start, end).range == expected


@pytest.mark.parametrize("length", [0.0014, 1.8297, 59.9999, 3600.5, 604800.0])
def test_the_offset_never_reaches_before_the_start_nor_a_millisecond_into_the_window(length: float) -> None:
    start = 1796139388.9014988
    window = Window(start, start + length)
    read_at = round(window.end, 3) - window.milliseconds / 1000
    assert start - 1e-9 <= read_at < start + 0.001 or window.milliseconds == 1


def test_the_delta_reads_the_start_with_that_offset() -> None:
    window = Window(10.0, 12.5)
    assert "offset 2500ms" in delta("webhook_deliveries_total", window)
