"""A deployment judged by URL: what it declares decides what applies, what the run was
not given is not measured, and a target that cannot be reached stops the run up front."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

READINESS = str(Path(sys.executable).with_name("readiness"))


def run_check(
    url: str, env_secrets: dict[str, str], output: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}, **env_secrets}
    return subprocess.run(
        [READINESS, "check", "--target-url", url, "--output", str(output), *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def lines_by_tag(output: Path) -> dict[str, dict[str, object]]:
    document = json.loads((output / "readiness.json").read_text())
    return {tag: line for line in document["lines"] for tag in line["tags"]}


def test_an_unreachable_target_stops_the_run_with_one_message_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    result = run_check(f"http://127.0.0.1:{port}", {}, tmp_path, "--gateways", "standard")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert f"the target http://127.0.0.1:{port} is unreachable" in output
    assert "check the URL" in output
    assert len(output.splitlines()) < 30, (
        f"an unreachable target gave {len(output.splitlines())} lines of output"
    )
    assert not (tmp_path / "readiness.json").exists(), "no evidence is written for a run that never started"


def test_gateways_come_from_the_targets_status_and_the_rest_is_not_applicable(
    deployment: tuple[str, Path], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, _ = deployment  # configured for Standard Webhooks and Stripe, not PayPal
    result = run_check(url, target_secrets, tmp_path, "-m", "smoke")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "gateways: stripe, standard" in result.stdout
    line = lines_by_tag(tmp_path)["one_pack_per_capture"]
    states = {example["params"]["gateway"]: example["state"] for example in line["examples"]}  # type: ignore[union-attr]
    assert states == {"stripe": "verified", "paypal": "not applicable", "standard": "verified"}
    assert line["state"] == "verified"


def test_a_wrong_secret_is_named_up_front_and_in_the_failing_lines(
    deployment: tuple[str, Path], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, _ = deployment
    wrong = {**target_secrets, "STRIPE_WEBHOOK_SECRET": "whsec_not_the_targets_secret"}
    result = run_check(url, wrong, tmp_path, "-m", "smoke or gateway_secrets")
    assert result.returncode == 1
    preflight = next(line for line in result.stdout.splitlines() if "stripe deliveries" in line)
    assert "STRIPE_WEBHOOK_SECRET" in preflight, preflight
    lines = lines_by_tag(tmp_path)
    assert lines["gateway_secrets"]["state"] == "failed"
    assert any(
        "check that it is the target's stripe webhook secret" in message
        for message in lines["one_pack_per_capture"]["messages"]
    )  # type: ignore[union-attr]
    assert lines["one_pack_per_capture"]["state"] == "failed"


def test_without_its_secret_a_gateway_is_not_measured_and_named(
    deployment: tuple[str, Path], target_secrets: dict[str, str], tmp_path: Path
) -> None:
    url, _ = deployment
    without_stripe = {k: v for k, v in target_secrets.items() if k != "STRIPE_WEBHOOK_SECRET"}
    env_secrets = {**without_stripe, "STRIPE_WEBHOOK_SECRET": ""}
    result = run_check(url, env_secrets, tmp_path, "-m", "one_pack_per_capture")
    line = lines_by_tag(tmp_path)["one_pack_per_capture"]
    stripe = next(example for example in line["examples"] if example["params"]["gateway"] == "stripe")  # type: ignore[union-attr]
    assert stripe["state"] == "not measured"
    assert "STRIPE_WEBHOOK_SECRET" in stripe["message"]
    assert line["state"] == "not measured"
    assert result.returncode == 1


def test_a_target_that_does_not_say_its_gateways_needs_the_option(tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Bare(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"database": "ok", "redis": "ok", "version": "1"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bare)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run_check(f"http://127.0.0.1:{server.server_address[1]}", {}, tmp_path, "-m", "smoke")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 2
    assert "give them with --gateways" in result.stdout + result.stderr


def test_a_standard_secret_that_is_not_base64_is_a_usage_error_that_hides_it(tmp_path: Path) -> None:
    malformed = "whsec_abcde-fghi"  # 9 base64 characters: no whole bytes, the library cannot read it
    result = run_check(
        "http://127.0.0.1:9", {"PAYMENTS_WEBHOOK_SECRET": malformed}, tmp_path, "--gateways", "standard"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output  # readiness check's exit for a run that could not start
    assert "PAYMENTS_WEBHOOK_SECRET: it is not whsec_ followed by a base64 key" in output
    assert malformed not in output and "INTERNALERROR" not in output
