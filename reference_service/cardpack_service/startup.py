"""Before the service serves: the schema is there, in the version this code needs.

Three ways to get it there (README, "Running the reference service"):

- the deploy runs `python -m cardpack_service.migrate` as the owner role first, and the
  service connects as a role that owns nothing (nothing to do here but check);
- MIGRATION_DATABASE_URL (the owner's URL) is given to the service too: the service runs
  the same migration at start, granting DATABASE_URL's role exactly what it needs;
- MIGRATE_ON_START=true with DATABASE_URL alone: the service applies the schema over its
  own connection, so it owns its tables (a one-URL deployment; said in a warning).

Without any of them a database without the schema stops the start with a message that
names the remedy, instead of failing on the first delivery.
"""

from __future__ import annotations

import logging

from psycopg.conninfo import conninfo_to_dict
from starlette.concurrency import run_in_threadpool

from . import db
from .config import Settings
from .migrate import MigrationError, migrate

logger = logging.getLogger(__name__)


def _user_and_password(conninfo: str, name: str) -> tuple[str, str | None]:
    params = conninfo_to_dict(conninfo)
    user = params.get("user")
    if not user:
        raise MigrationError(
            f"{name} names no user: give the role explicitly (postgresql://ROLE:PASSWORD@host/db)"
        )
    password = params.get("password")
    return str(user), None if password is None else str(password)


async def prepare_database(settings: Settings) -> None:
    """Run the migration the settings ask for (before the pool opens: it may create the
    service's role)."""
    if settings.migration_database_url is None:
        return
    owner_url = settings.migration_database_url.get_secret_value()
    service_url = settings.database_url.get_secret_value()
    owner, _ = _user_and_password(owner_url, "MIGRATION_DATABASE_URL")
    role, password = _user_and_password(service_url, "DATABASE_URL")
    if role == owner:
        logger.warning(
            "DATABASE_URL and MIGRATION_DATABASE_URL name the same role %s: the service owns its "
            "tables; give it a role of its own for least privilege",
            role,
        )
    await run_in_threadpool(migrate, owner_url, None if role == owner else role, password)


async def check_or_apply_schema(settings: Settings, pool: db.Pool) -> None:
    """MIGRATE_ON_START over the service's own connection; then the version check."""
    if settings.migrate_on_start and settings.migration_database_url is None:
        logger.warning(
            "MIGRATE_ON_START=true: the service applies its schema as its own role and so owns "
            "its tables (it could alter or drop the audit trail); for least privilege run "
            "`python -m cardpack_service.migrate` as the owner instead"
        )
        await db.apply_schema(pool)
    await db.check_schema(pool)
