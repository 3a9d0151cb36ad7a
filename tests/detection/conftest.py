"""What the detection tests share: one PostgreSQL (a database per variant), one Redis (for
the variants whose runs never stop it), the secrets, and the campaign that deploys and
judges the variants the session selected, a few at a time."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from campaign import Campaign
from checklist_runs import Runner
from variant_catalogue import Variant
from variant_deployment import cache_url, new_cache, start_cache, stop_cache

from readiness_harness.paths import PROJECT_ROOT
from readiness_harness.settings.secrets import load_secrets
from readiness_harness.target.embedded import EmbeddedPostgres

PARALLEL = int(os.environ.get("DETECTION_PARALLEL", "3"))
"""Variants deployed and judged at once (their runs wait on HTTP much of the time)."""


def _sign_offs_for_today(folder: Path) -> Path:
    """The repository's human items, signed off today: they attest the release process,
    not the service under test, so their dates must not decide a detection test."""
    document = yaml.safe_load((PROJECT_ROOT / "attestations.yml").read_text())
    for item in document["attestations"].values():
        item["when"] = date.today()
    path = folder / "attestations.yml"
    path.write_text(yaml.safe_dump(document))
    return path


WHOLE_MODULE_DISTRIBUTIONS = ("loadfile", "loadscope", "loadgroup")
"""pytest-xdist modes that give one worker every test of a module (this one is also in an
`xdist_group` of its own)."""


def _distribution(config: pytest.Config) -> str:
    """The `--dist` mode of the run, as a pytest-xdist worker can tell it: the worker's own
    options say "no", so read the arguments the run was given (ini addopts, then
    PYTEST_ADDOPTS, then the command line: the last one counts)."""
    if getattr(config.option, "loadgroup", False):
        return "loadgroup"
    arguments = [
        *config.getini("addopts"),
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *config.invocation_params.args,
    ]
    mode = "load"
    for index, argument in enumerate(arguments):
        if argument == "--dist" and index + 1 < len(arguments):
            mode = arguments[index + 1]
        elif argument.startswith("--dist="):
            mode = argument.partition("=")[2]
    return mode


def _runs_the_whole_module(config: pytest.Config) -> bool:
    """Whether this process runs every selected test of the module. A pytest-xdist worker
    that shares the module's tests with others (`--dist load`) collects them all but runs
    only some: it deploys each variant when its test asks, never the others' too."""
    if not hasattr(config, "workerinput"):
        return True
    return _distribution(config) in WHOLE_MODULE_DISTRIBUTIONS


@pytest.fixture(scope="module")
def campaign(request: pytest.FixtureRequest) -> Iterator[Campaign]:
    """The variants this module's selected tests name, deployed and judged a few at a
    time from the start (each test waits for its own; see `_runs_the_whole_module` for
    pytest-xdist); everything stopped and removed when the module is done."""
    root = Path(tempfile.mkdtemp(prefix="readiness-detection-"))
    root.chmod(0o700)
    postgres = EmbeddedPostgres()
    shared = root / "shared-cache"
    shared.mkdir(mode=0o700)
    cache = new_cache(shared)
    secrets = load_secrets({})
    waivers = root / "waivers.yml"
    waivers.write_text("waivers: []\n")
    campaign = Campaign(
        root=root,
        postgres=postgres,
        shared_cache=cache_url(cache),
        service_environment=secrets.service_environment(),
        runner=Runner(secrets.service_environment(), pycache=root / "pycache"),
        waivers=waivers,
        attestations=_sign_offs_for_today(root),
        parallel=PARALLEL,
        pycache=root / "pycache",
    )
    try:
        postgres.start()
        start_cache(shared, {"cache": cache})
        if _runs_the_whole_module(request.config):
            selected = [
                item.callspec.params["variant"]
                for item in request.session.items
                if getattr(item, "module", None) is request.module
                and hasattr(item, "callspec")
                and isinstance(item.callspec.params.get("variant"), Variant)
            ]
            campaign.start(sorted(selected, key=lambda variant: variant.name != "reference"))
        yield campaign
    finally:
        try:
            campaign.close()
        finally:
            stop_cache(shared)
            postgres.cleanup()
            shutil.rmtree(root, ignore_errors=True)
