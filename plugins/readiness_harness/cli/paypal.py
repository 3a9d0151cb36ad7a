"""`readiness paypal-sandbox`: the PayPal API stand-in in the foreground, for a staging
deployment to verify its PayPal deliveries against."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from readiness_harness.cli import interrupts
from readiness_harness.gateways.paypal_sandbox import PayPalSandbox
from readiness_harness.settings.secrets import load_secrets, write_env_file
from readiness_harness.target.stack import private_folder, sandbox_credentials


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "paypal-sandbox",
        help="run the PayPal API stand-in (OAuth + verify-webhook-signature) until Ctrl-C",
        description="Serve PayPal's OAuth token and verify-webhook-signature calls on HOST:PORT. "
        "Configure the deployment with the printed PAYPAL_API_BASE, PAYPAL_CLIENT_ID and "
        "PAYPAL_WEBHOOK_ID and with PAYPAL_CLIENT_SECRET from the printed 0600 file; run "
        "`readiness check` with the same PAYPAL_* values in its environment and its PayPal lines "
        "are measured. PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_WEBHOOK_ID are taken from "
        "the environment when set (so a configured staging keeps working), else generated.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument(
        "--env-file",
        default=None,
        help="where to write the PAYPAL_* settings (default: a private temporary folder)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    interrupts.install()
    secrets = load_secrets()
    folder = None if args.env_file else private_folder("readiness-paypal-")
    env_file = Path(args.env_file) if args.env_file else folder / "paypal.env"  # type: ignore[operator]
    try:
        with PayPalSandbox(sandbox_credentials(secrets), host=args.host, port=args.port) as sandbox:
            write_env_file(env_file, sandbox.service_environment())
            print(f"PAYPAL_API_BASE={sandbox.api_base}")
            print(f"PAYPAL_CLIENT_ID={sandbox.credentials.client_id}")
            print(f"PAYPAL_WEBHOOK_ID={sandbox.credentials.webhook_id}")
            print(f"PAYPAL_SETTINGS_FILE={env_file}  (0600, with PAYPAL_CLIENT_SECRET)")
            print("ready; Ctrl-C or SIGTERM stops the sandbox", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt as error:
        return interrupts.report("stopped the PayPal sandbox", error)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
