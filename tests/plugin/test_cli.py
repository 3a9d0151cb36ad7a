"""`readiness` through its command line: help, serve (with signals), check."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

READINESS = str(Path(sys.executable).with_name("readiness"))


def test_help_explains_every_command() -> None:
    result = subprocess.run([READINESS, "--help"], capture_output=True, text=True, check=True)
    for command in ("serve", "check"):
        assert command in result.stdout


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_urls_and_stops_everything_on_a_signal(stop_signal: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    printed: dict[str, str] = {}
    with subprocess.Popen([READINESS, "serve"], stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith("ready"):
                    break
                name, _, value = line.strip().partition("=")
                printed[name] = value
            assert {"SERVICE_URL", "DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN"} <= printed.keys()
            status = httpx.get(f"{printed['SERVICE_URL']}/status", timeout=10)
            assert status.status_code == 200 and status.json()["database"] == "ok"
            db_port = int(printed["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
            redis_port = int(printed["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
            assert _port_open(db_port) and _port_open(redis_port)
        finally:
            process.send_signal(stop_signal)
            code = process.wait(timeout=60)
    assert code == 0
    assert not _port_open(db_port), "PostgreSQL still listening after serve stopped"
    assert not _port_open(redis_port), "Redis still listening after serve stopped"


def test_check_on_a_tag_prints_each_line_and_the_verdict() -> None:
    result = subprocess.run(
        [READINESS, "check", "-m", "smoke"], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[PASS] One capture delivers one pack" in result.stdout
    assert "partial run" in result.stdout
    assert "PRODUCTION READY" not in result.stdout, "a tag filter never gives the full verdict"


def test_check_that_measures_nothing_is_not_ready() -> None:
    result = subprocess.run(
        [READINESS, "check", "-m", "no_such_tag"], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode != 0
    assert "NOT READY" in result.stdout
    assert "PRODUCTION READY" not in result.stdout
