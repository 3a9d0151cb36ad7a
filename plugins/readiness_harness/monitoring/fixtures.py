"""Fixtures of the monitoring lines (loaded by the plugin as a pytest plugin).

`readiness_monitoring` hands a line the target's Prometheus, Alertmanager and logs. On
the embedded default the real Prometheus, Alertmanager and node_exporter start the
first time a line asks for them (never for a run that has no such line) and stop at
the end of the session; against a deployment they are its own, given by URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from allure_commons import plugin_manager
from allure_commons.types import AttachmentType

from readiness_harness.monitoring.access import MonitoringAccess
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.target import Target

SESSION_START = pytest.StashKey[float]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SESSION_START] = time.time()


@pytest.fixture
def attach_svg(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Attach an SVG plot to the current example's Allure result (no-op without Allure)."""

    def attach(name: str, svg: str) -> None:
        if request.config.pluginmanager.has_plugin("readiness-allure"):
            plugin_manager.hook.attach_data(
                body=svg, name=name, attachment_type=AttachmentType.SVG, extension="svg"
            )

    return attach


@pytest.fixture(scope="session")
def readiness_monitoring(
    pytestconfig: pytest.Config, readiness_target: Target, readiness_settings: HarnessSettings
) -> Iterator[MonitoringAccess]:
    access = MonitoringAccess(
        readiness_target, readiness_settings, pytestconfig.stash.get(SESSION_START, time.time())
    )
    try:
        yield access
    finally:
        access.close()
