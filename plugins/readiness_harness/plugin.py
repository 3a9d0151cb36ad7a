"""The readiness pytest plugin: options, checklist collection, fixtures, report header.

This module only wires pytest hooks to the focused modules beside it. Step definitions
live in the `readiness_steps` package and are loaded as plugins so their fixtures are
visible to every feature file.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator
from pathlib import Path

import pytest

from .checklist import ChecklistRecorder
from .clients import AdminClient, WebhookClient
from .collection import collect_feature, register_markers
from .gateway_sim import GatewaySimulator
from .options import HarnessSettings, add_options, redact, resolve_settings
from .stack import Target, embedded_stack

pytest_plugins = (
    "readiness_steps.common",
    "readiness_steps.gateway",
    "readiness_steps.smoke",
    "readiness_steps.security",
    "readiness_steps.resilience",
)

SETTINGS_KEY = pytest.StashKey[HarnessSettings]()
RECORDER_KEY = pytest.StashKey[ChecklistRecorder]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    parser.getgroup("readiness").addoption(
        "--checklist-json",
        dest="readiness_checklist_json",
        default=None,
        metavar="PATH",
        help="write every checklist line with its state and evidence to PATH as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    settings = resolve_settings(config)
    config.stash[SETTINGS_KEY] = settings
    register_markers(config, settings.features_dir)
    recorder = ChecklistRecorder()
    config.stash[RECORDER_KEY] = recorder
    config.pluginmanager.register(recorder, "readiness-checklist")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("readiness_checklist_json")
    if path:
        settings = session.config.stash[SETTINGS_KEY]
        target = settings.target_url or "embedded reference service"
        session.config.stash[RECORDER_KEY].write(Path(path), target)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect_feature(file_path, parent, parent.config.stash[SETTINGS_KEY].features_dir)


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS_KEY]
    if settings.target_url:
        target = f"readiness target: {settings.target_url}"
    else:
        database = redact(settings.database_url) if settings.database_url else "embedded PostgreSQL"
        redis_url = redact(settings.redis_url) if settings.redis_url else "embedded Redis"
        target = f"readiness target: embedded reference service ({database}, {redis_url})"
    return [target, f"readiness features: {settings.features_dir}", f"python: {platform.python_version()}"]


@pytest.fixture(scope="session")
def readiness_settings(pytestconfig: pytest.Config) -> HarnessSettings:
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def readiness_target(readiness_settings: HarnessSettings) -> Iterator[Target]:
    """The service under test: the deployed target, or the embedded default for the session."""
    if readiness_settings.target_url:
        yield Target(readiness_settings.target_url, readiness_settings.secrets)
        return
    with embedded_stack(
        readiness_settings.secrets, readiness_settings.database_url, readiness_settings.redis_url
    ) as target:
        yield target


@pytest.fixture(scope="session")
def webhook_client(readiness_target: Target) -> Iterator[WebhookClient]:
    client = WebhookClient(readiness_target.url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def admin_client(readiness_target: Target) -> Iterator[AdminClient]:
    client = AdminClient(readiness_target.url, readiness_target.secrets.admin_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def payment_gateway(readiness_target: Target, webhook_client: WebhookClient) -> GatewaySimulator:
    """The gateway, played by the harness: signed deliveries for made-up payments."""
    return GatewaySimulator(readiness_target, webhook_client)
