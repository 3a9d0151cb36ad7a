"""The states of a checklist example, and how a step ends one that cannot be measured.

An example (one row of a scenario outline, or a plain scenario) ends in one state:
  verified        it ran and passed
  failed          an assertion (or anything else) failed
  not measured    the run was not given what the example needs; the reason names the option
  not applicable  the example is about something the target does not use (a gateway)
A step calls `not_measured()` or `not_applicable()`; both end the test as a pytest skip
whose reason carries a recognisable prefix, which the recorder turns into the state.
"""

from __future__ import annotations

from typing import NoReturn

import pytest

VERIFIED = "verified"
FAILED = "failed"
NOT_MEASURED = "not measured"
NOT_APPLICABLE = "not applicable"

NOT_MEASURED_PREFIX = "not measured: "
NOT_APPLICABLE_PREFIX = "not applicable: "


def not_measured(reason: str, option: str | None = None) -> NoReturn:
    """End this example as not measured: `reason` says what is missing, `option` what to give."""
    hint = f" (give {option} to measure it)" if option else ""
    pytest.skip(NOT_MEASURED_PREFIX + reason + hint)


def not_applicable(reason: str) -> NoReturn:
    """End this example as not applicable to this target (never counted against the verdict)."""
    pytest.skip(NOT_APPLICABLE_PREFIX + reason)


def state_of_skip(reason: str) -> tuple[str, str]:
    """(state, reason without prefix) for a skip reason."""
    text = reason.removeprefix("Skipped: ")
    if text.startswith(NOT_APPLICABLE_PREFIX):
        return NOT_APPLICABLE, text.removeprefix(NOT_APPLICABLE_PREFIX)
    return NOT_MEASURED, text.removeprefix(NOT_MEASURED_PREFIX)
