"""Fixtures of the latency, success-rate and load-testing lines (loaded by the plugin as a
pytest plugin): the burst sender, and the session's load result."""

from __future__ import annotations

import pytest

from readiness_harness.load.burst import BurstSender
from readiness_harness.load.evidence import LoadEvidence
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.target import Target


@pytest.fixture(scope="session")
def burst_sender(readiness_target: Target) -> BurstSender:
    return BurstSender(readiness_target.url, readiness_target.verify)


@pytest.fixture(scope="session")
def load_evidence(readiness_settings: HarnessSettings, readiness_target: Target) -> LoadEvidence:
    return LoadEvidence(readiness_settings, readiness_target)
