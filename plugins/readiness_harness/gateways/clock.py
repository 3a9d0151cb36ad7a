"""Whole-second signing times that fall on the intended side of a window, whatever the
clock's fraction: gateways sign with whole seconds, so "now minus 330 s" rounded the
wrong way is a second closer to the window than it reads.

    at_least_seconds_old(330)   # arrives at least 330 s old
    at_most_seconds_old(270)    # at most 270 s old when signed (transit adds a little)
"""

from __future__ import annotations

import math
import time


def at_least_seconds_old(seconds: int) -> int:
    return math.floor(time.time()) - seconds


def at_most_seconds_old(seconds: int) -> int:
    return math.ceil(time.time()) - seconds


def at_least_seconds_ahead(seconds: int) -> int:
    return math.ceil(time.time()) + seconds


def at_most_seconds_ahead(seconds: int) -> int:
    return math.floor(time.time()) + seconds
