"""`readiness serve --outage-hooks-file`: the served deployment's parts stopped and started
by a check run elsewhere, through the hooks file serve wrote and nothing else."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_outage_hooks import RESILIENCE_LINES, check, states

READINESS = str(Path(sys.executable).with_name("readiness"))
READY_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def served(
    target_secrets: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    folder = tmp_path_factory.mktemp("serve")
    hooks = folder / "hooks.yml"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PAYPAL_API_BASE")},
        **target_secrets,
    }
    process = subprocess.Popen(
        [READINESS, "serve", "--env-file", str(folder / "secrets.env"), "--outage-hooks-file", str(hooks)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    printed: list[str] = []
    url = ""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        printed.append(line)
        if line.startswith("SERVICE_URL="):
            url = line.strip().split("=", 1)[1]
        if line.startswith("ready;"):
            break
    try:
        assert url and hooks.exists(), "".join(printed)
        yield url, hooks, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=120)


def test_the_hooks_file_and_its_socket_are_closed_to_other_users(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    _url, hooks, _process = served
    assert stat.S_IMODE(hooks.stat().st_mode) == 0o600
    text = hooks.read_text()
    sockets = [Path(word) for word in text.split() if word.endswith("control.sock")]
    assert sockets, text
    socket_path = sockets[0]
    assert stat.S_ISSOCK(socket_path.stat().st_mode)
    assert stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    for secret_name in ("whsec_", "ADMIN_TOKEN"):
        assert secret_name not in text


def test_a_check_elsewhere_runs_the_outage_lines_through_serves_hooks(
    served: tuple[str, Path, subprocess.Popen[str]], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, hooks, process = served
    code, output, document = check(
        url, target_secrets, tmp_path / "out", "--outage-hooks", str(hooks), "--allow-disruption"
    )
    assert states(document) == dict.fromkeys(RESILIENCE_LINES, "verified"), output[-4000:]
    assert code == 0, output[-3000:]
    assert process.poll() is None, "serve must still be running after its parts were stopped and started"


def test_serve_control_says_why_when_no_serve_answers(tmp_path: Path) -> None:
    result = subprocess.run(
        [READINESS, "serve-control", str(tmp_path / "control.sock"), "stop", "database"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "no running `readiness serve` answers" in result.stderr


def test_stopping_serve_removes_its_hooks_file(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    _url, hooks, process = served
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode == 143
    assert not hooks.exists()
