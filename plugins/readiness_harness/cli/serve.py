"""`readiness serve`: the reference deployment on this machine until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

from readiness_harness.cli import interrupts
from readiness_harness.settings.secrets import load_secrets, redact_url, write_env_file
from readiness_harness.target.outages import EmbeddedOutageControl
from readiness_harness.target.serve_control import ControlServer, write_hooks_file
from readiness_harness.target.stack import embedded_stack, private_folder


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the reference service on the embedded default until Ctrl-C",
        description="Start PostgreSQL and Redis (unless DATABASE_URL/REDIS_URL are set), the PayPal "
        "API stand-in (unless PAYPAL_API_BASE is set) and the reference service, print where they "
        "are, write every secret that was not in the environment to a 0600 env file (its path is "
        "printed, never the secrets; with the DATABASE_URL and REDIS_URL of the servers it started, whose "
        "passwords are generated), and stop everything on SIGINT or SIGTERM (exit 130/143). "
        "Reads PAYMENTS_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET, ADMIN_TOKEN, PAYPAL_CLIENT_ID, "
        "PAYPAL_CLIENT_SECRET, PAYPAL_WEBHOOK_ID, PAYPAL_API_BASE, DATABASE_URL and REDIS_URL.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port for the service (default: a free one)")
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a CA and certificate made for this run (CA path printed)",
    )
    parser.add_argument(
        "--env-file",
        default=None,
        help="where to write the generated secrets (default: a private temporary folder, removed on stop)",
    )
    parser.add_argument(
        "--outage-hooks-file",
        default=None,
        metavar="PATH",
        help="also write an outage hooks file (0600) for `readiness check --outage-hooks PATH "
        "--allow-disruption`: its commands stop and start this deployment's PostgreSQL, Redis and "
        "service process through a control socket only this user and root can reach; removed on stop",
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    interrupts.install()
    secrets = load_secrets()
    folder = None if args.env_file else private_folder("readiness-serve-")
    env_file = Path(args.env_file) if args.env_file else folder / "secrets.env"  # type: ignore[operator]
    hooks_file = Path(args.outage_hooks_file) if args.outage_hooks_file else None
    control_folder = private_folder("readiness-serve-control-") if hooks_file else None
    control: ControlServer | None = None
    try:
        with embedded_stack(
            secrets,
            os.environ.get("DATABASE_URL") or None,
            os.environ.get("REDIS_URL") or None,
            port=args.port,
            tls=args.tls,
            paypal_api_base=os.environ.get("PAYPAL_API_BASE") or None,
            host=args.host,
        ) as deployment:
            generated = {
                name: value
                for name, value in secrets.service_environment().items()
                if name in secrets.generated
            }
            # Servers serve started have generated passwords: their URLs are secrets too.
            if deployment.postgres is not None:
                generated["DATABASE_URL"] = deployment.database_url
            if deployment.redis is not None:
                generated["REDIS_URL"] = deployment.redis_url
            write_env_file(env_file, generated)
            print(f"SERVICE_URL={deployment.url}")
            print(f"DATABASE_URL={redact_url(deployment.database_url)}")
            print(f"REDIS_URL={redact_url(deployment.redis_url)}")
            print(f"PAYPAL_API_BASE={deployment.paypal_api_base}")
            print(f"PAYPAL_CLIENT_ID={secrets.paypal_client_id}")
            print(f"PAYPAL_WEBHOOK_ID={secrets.paypal_webhook_id}")
            if deployment.ca_file is not None:
                print(f"CA_BUNDLE={deployment.ca_file}")
            if hooks_file is not None and control_folder is not None:
                outages = EmbeddedOutageControl(deployment)
                control = ControlServer(control_folder / "control.sock", outages)
                control.start_serving()
                write_hooks_file(hooks_file, control.path, outages.parts)
                print(f"CONTROL_SOCKET={control.path}")
                print(f"OUTAGE_HOOKS={hooks_file}  (readiness check --outage-hooks it --allow-disruption)")
            print(f"SECRETS_FILE={env_file}  (0600: {', '.join(generated) or 'nothing generated'})")
            print("ready; Ctrl-C or SIGTERM stops the service and the embedded servers", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt as error:
        return interrupts.report(
            "stopped the reference service, its PayPal sandbox and the servers serve started; "
            "removed their data and the secrets file",
            error,
        )
    finally:
        if control is not None:
            control.close()
        if hooks_file is not None:
            hooks_file.unlink(missing_ok=True)
        for private in (folder, control_folder):
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
    return 0
