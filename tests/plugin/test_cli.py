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


@pytest.mark.parametrize(("stop_signal", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_serve_prints_where_things_are_keeps_secrets_in_a_private_file_and_stops_on_a_signal(
    stop_signal: signal.Signals, exit_code: int
) -> None:
    secret_names = ("PAYMENTS_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "ADMIN_TOKEN", "PAYPAL_CLIENT_SECRET")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", *secret_names)}
    printed: dict[str, str] = {}
    with subprocess.Popen(
        [READINESS, "serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            for line in process.stdout:
                if line.startswith("ready"):
                    break
                name, _, value = line.strip().partition("=")
                printed[name] = value
            assert {
                "SERVICE_URL",
                "DATABASE_URL",
                "REDIS_URL",
                "PAYPAL_API_BASE",
                "SECRETS_FILE",
            } <= printed.keys()
            assert not set(secret_names) & printed.keys(), "serve printed a secret"
            secrets_file = Path(printed["SECRETS_FILE"].split()[0])
            assert secrets_file.stat().st_mode & 0o777 == 0o600
            assert secrets_file.parent.stat().st_mode & 0o777 == 0o700
            written = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines())
            assert set(secret_names) <= written.keys()
            status = httpx.get(f"{printed['SERVICE_URL']}/status", timeout=10)
            assert status.status_code == 200 and status.json()["database"] == "ok"
            audit = httpx.get(
                f"{printed['SERVICE_URL']}/audit",
                headers={"Authorization": f"Bearer {written['ADMIN_TOKEN']}"},
                timeout=10,
            )
            assert audit.status_code == 200, "the secrets file holds the service's own admin token"
            db_port = int(printed["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
            redis_port = int(printed["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
            assert _port_open(db_port) and _port_open(redis_port)
        finally:
            process.send_signal(stop_signal)
            code = process.wait(timeout=60)
        stderr = process.stderr.read()
    assert code == exit_code, stderr
    assert "stopped the reference service" in stderr and "Traceback" not in stderr
    assert not _port_open(db_port), "PostgreSQL still listening after serve stopped"
    assert not _port_open(redis_port), "Redis still listening after serve stopped"
    assert not secrets_file.exists(), "the secrets file outlived serve"


def test_check_on_a_tag_prints_each_line_and_the_verdict(tmp_path: Path) -> None:
    result = subprocess.run(
        [READINESS, "check", "-m", "smoke", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[PASS] One <gateway> capture delivers one pack (3/3)" in result.stdout
    assert "partial run" in result.stdout
    assert "PRODUCTION READY" not in result.stdout, "a tag filter never gives the full verdict"


def test_check_that_measures_nothing_is_not_ready(tmp_path: Path) -> None:
    result = subprocess.run(
        [READINESS, "check", "-m", "no_such_tag", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    assert "NOT READY" in result.stdout
    assert "PRODUCTION READY" not in result.stdout
