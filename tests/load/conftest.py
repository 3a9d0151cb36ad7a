"""The load tests share one reference deployment (the harness's session target) and run
`readiness load` and the checklist's lines against it, directly or through a defect."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from defects import Defect, DefectiveProxy

from readiness_harness.settings.secrets import Secrets, load_secrets
from readiness_harness.target.stack import EmbeddedDeployment, embedded_stack


@pytest.fixture(scope="session")
def reference() -> Iterator[EmbeddedDeployment]:
    """The reference service on embedded servers (plain HTTP), its secrets generated here."""
    with embedded_stack(load_secrets({})) as deployment:
        yield deployment


@pytest.fixture(scope="session")
def target_env(reference: EmbeddedDeployment) -> dict[str, str]:
    """The environment a command needs to sign for and read the reference deployment."""
    secrets: Secrets = reference.secrets
    env = {k: v for k, v in os.environ.items() if not k.startswith("READINESS_")}
    env.update(secrets.service_environment())
    return env


@pytest.fixture
def defective(reference: EmbeddedDeployment, request: pytest.FixtureRequest) -> Iterator[DefectiveProxy]:
    """The reference service behind a proxy that adds the defect the test names."""
    defect: Defect = request.param
    with DefectiveProxy(reference.url, defect) as proxy:
        yield proxy
