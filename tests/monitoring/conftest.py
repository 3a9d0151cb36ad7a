"""Real servers for the monitoring tests: the reference deployment on embedded servers
(https, the run's CA) and the embedded Prometheus, Alertmanager and node_exporter with
the repository's rules, scraping it. Shared by a module's tests; each test waits for its
alert to be quiet before it begins, so the order of tests does not matter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness_harness.gateways.clients import WebhookClient
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.monitoring.embedded import EmbeddedMonitoring, ServiceEndpoint
from readiness_harness.monitoring.rules import load_rule_files
from readiness_harness.settings.options import GATEWAY_NAMES
from readiness_harness.settings.secrets import load_secrets
from readiness_harness.target.outages import EmbeddedOutageControl, Outages
from readiness_harness.target.resolve import REFERENCE_RULES
from readiness_harness.target.stack import EmbeddedDeployment, embedded_stack
from readiness_harness.target.target import Target

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deployment() -> Iterator[EmbeddedDeployment]:
    with embedded_stack(load_secrets({}), tls=True) as started:
        yield started


@pytest.fixture(scope="module")
def textfile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node_exporter's textfile folder: what the restore drill writes its metrics into."""
    return tmp_path_factory.mktemp("drill-textfiles")


@pytest.fixture(scope="module")
def monitoring(deployment: EmbeddedDeployment, textfile_dir: Path) -> Iterator[EmbeddedMonitoring]:
    service = deployment.service
    with EmbeddedMonitoring(
        ServiceEndpoint(f"{service.host}:{service.port}", "https", deployment.ca_file),
        list(load_rule_files(REFERENCE_RULES).rule_files),
        REFERENCE_RULES / "alertmanager.yml",
        textfile_dir,
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def target(deployment: EmbeddedDeployment) -> Target:
    return Target(
        deployment.url,
        deployment.secrets,
        GATEWAY_NAMES,
        embedded=True,
        ca_file=deployment.ca_file,
        servers=deployment,
    )


@pytest.fixture(scope="module")
def simulator(target: Target) -> Iterator[GatewaySimulator]:
    with WebhookClient(target.url, verify=target.verify) as client:
        yield GatewaySimulator(target, client)


@pytest.fixture(scope="module")
def outages(deployment: EmbeddedDeployment) -> Iterator[Outages]:
    control = Outages(EmbeddedOutageControl(deployment))
    try:
        yield control
    finally:
        control.restore_all()
