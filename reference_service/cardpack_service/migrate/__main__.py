"""`python -m cardpack_service.migrate`: apply the schema and the service role's grants.

Connection strings and passwords come from the environment only (a command line is
visible to every user of the machine in `ps`):

  MIGRATION_DATABASE_URL   the owner role's URL (required)
  SERVICE_ROLE_PASSWORD    the service role's password (required to create the role;
                           when given for an existing role, its password is reset)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import DEFAULT_SERVICE_ROLE, MigrationError, migrate

EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cardpack_service.migrate",
        description=(
            "Apply the card-pack service's schema as the owner role (MIGRATION_DATABASE_URL) "
            "and grant the service role exactly what the service needs: SELECT on purchases, "
            "cards, artists and audit_log, INSERT into audit_log (not received_at), EXECUTE "
            "on record_capture and record_refund; nothing else. Idempotent: run it on every "
            "deploy, before the service starts."
        ),
        epilog=(
            "Environment: MIGRATION_DATABASE_URL (required, the owner's URL), "
            "SERVICE_ROLE_PASSWORD (the service role's password; required when the role does "
            "not exist yet). Exit codes: 0 applied, 1 failed (the message says why), 2 bad usage."
        ),
    )
    parser.add_argument(
        "--service-role",
        default=os.environ.get("SERVICE_ROLE", DEFAULT_SERVICE_ROLE),
        help="the role the service connects as (default: $SERVICE_ROLE or %(default)s)",
    )
    parser.add_argument(
        "--schema-only",
        action="store_true",
        help="apply the schema and grant nothing (a one-URL deployment: the service is the owner)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    owner_url = os.environ.get("MIGRATION_DATABASE_URL")
    if not owner_url:
        sys.stderr.write("MIGRATION_DATABASE_URL is not set: give the owner role's URL in the environment\n")
        return EXIT_USAGE
    password = os.environ.get("SERVICE_ROLE_PASSWORD") or None
    try:
        result = migrate(owner_url, None if args.schema_only else args.service_role, password)
    except MigrationError as exc:
        sys.stderr.write(f"migration failed: {exc}\n")
        return EXIT_FAILED
    role = "no service role (schema only)" if args.schema_only else f"service role {result.service_role}"
    sys.stderr.write(
        f"schema version {result.schema_version} applied as {result.owner}; {role}"
        f"{' created' if result.role_created else ''}"
        f"{', password set' if result.password_set else ''}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
