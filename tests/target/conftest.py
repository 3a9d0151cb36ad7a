"""A deployment of the reference service as separate processes, addressed only by URL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness_harness.settings.secrets import new_standard_secret

CTL = str(Path(__file__).with_name("deployment_ctl.py"))


@pytest.fixture(scope="module")
def target_secrets() -> dict[str, str]:
    return {
        "PAYMENTS_WEBHOOK_SECRET": new_standard_secret(),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(24),
        "ADMIN_TOKEN": secrets.token_urlsafe(32),
    }


@pytest.fixture(scope="module")
def deployment(target_secrets: dict[str, str]) -> Iterator[tuple[str, Path]]:
    # Not under pytest's tmp_path: that tree is 0700, and PostgreSQL's own user (when root)
    # must reach its data folder inside this one.
    folder = Path(tempfile.mkdtemp(prefix="readiness-test-deployment-"))
    folder.chmod(0o711)
    env = {**os.environ, **target_secrets}
    started = subprocess.run(
        [sys.executable, CTL, str(folder), "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield started.stdout.strip().splitlines()[-1], folder
    finally:
        subprocess.run(
            [sys.executable, CTL, str(folder), "down"], capture_output=True, timeout=120, check=False
        )
