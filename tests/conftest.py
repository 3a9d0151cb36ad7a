"""Shared configuration for the harness's own tests."""

import pytest

pytest_plugins = ["pytester"]

# Step definitions for the small pytester checklists used by the plugin and report tests.
TOY_STEPS = """\
import pytest
from pytest_bdd import given, parsers, then


@given(parsers.parse("a number {n:d}"), target_fixture="number")
def _(n):
    return n


@then("it is even")
def _(number):
    assert number % 2 == 0


@given("a skipped precondition")
def _():
    pytest.skip("not measurable here")
"""


@pytest.fixture
def toy_steps() -> str:
    """conftest.py source with the toy checklist's steps (number parity, a skip)."""
    return TOY_STEPS
