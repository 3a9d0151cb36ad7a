"""What an example asked of the target is recorded across nested and cached fixtures."""

from __future__ import annotations

from readiness_harness.checklist.needs import NeedsLog


def test_nested_frames_each_collect_what_was_noted_while_they_were_open() -> None:
    log = NeedsLog()
    with log.frame() as test:
        with log.frame() as fixture:
            log.note("database")
        with log.frame() as empty:
            pass
        log.note("redis")
    log.note("outside any frame")
    assert test == {"database", "redis"}
    assert fixture == {"database"}
    assert empty == set()


def test_equal_frames_are_closed_by_identity() -> None:
    log = NeedsLog()
    with log.frame() as outer:
        with log.frame():
            pass  # an empty inner frame equals the empty outer one
        log.note("alert_rules")
    assert outer == {"alert_rules"}
