"""The schema and the service role's privileges, applied by the owner role.

`migrate(owner_url, service_role, password)` runs, in one transaction under an advisory
lock (so concurrent runs take turns):

1. the schema (`schema.sql`, idempotent: creates what is missing, upgrades older
   databases, changes nothing the second time), with its objects owned by the owner;
2. the service role: created (LOGIN, no other attribute) when missing, its password set
   when one is given; refused when it is a superuser, owns anything in the database, or
   is a member of a role that does;
3. exactly these privileges for it, after revoking whatever it had on the schema's
   objects:

   - CONNECT on the database, USAGE on the schema;
   - SELECT on purchases, cards, artists (status counts and the admin reads);
   - SELECT and INSERT on audit_log, the INSERT limited to the columns the service
     writes (never received_at, which a trigger stamps, nor audit_id);
   - EXECUTE on record_capture and record_refund (SECURITY DEFINER: the only way the
     service changes purchases, cards and the dedupe records) and on
     cardpack_schema_version().

   Nothing else: no UPDATE, DELETE or TRUNCATE anywhere, no ownership, so no ALTER TABLE
   (DISABLE TRIGGER), no CREATE OR REPLACE of a function, no DROP. The schema's CREATE
   right is taken from PUBLIC (PostgreSQL 15 and later never gave it), so the service
   role cannot create objects there either.

The password never reaches the server in clear: libpq hashes it (SCRAM-SHA-256) on the
client, as psql's \\password does, and only the verifier goes into `ALTER ROLE`, so not
even a server that logs every statement sees it. It is never logged or printed here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..db import SCHEMA_LOCK_KEY, schema_sql

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_ROLE = "cardpack_service"
SCHEMA = "public"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

READ_TABLES = ("purchases", "cards", "artists", "audit_log")
AUDIT_INSERT_COLUMNS = ("event_id", "gateway", "event_type", "payment_id", "outcome", "detail")
SERVICE_FUNCTIONS = (
    "record_capture(text, text, text, text, text, text, bigint, text)",
    "record_refund(text, text, text, text)",
    "cardpack_schema_version()",
)


class MigrationError(RuntimeError):
    """The schema or the grants could not be applied; the message says what to do."""


@dataclass(frozen=True)
class MigrationResult:
    owner: str
    service_role: str
    role_created: bool
    password_set: bool
    schema_version: int


def check_role_name(name: str) -> str:
    """A plain lower-case identifier (quoted anyway when used): no surprises in SQL."""
    if not ROLE_NAME.fullmatch(name):
        raise MigrationError(
            f"invalid service role name {name!r}: use lower-case letters, digits and _ "
            "(at most 63, not starting with a digit)"
        )
    return name


def service_url(owner_url: str, service_role: str, password: str | None) -> str:
    """The owner's connection string with the service role's user and password."""
    params = conninfo_to_dict(owner_url)
    params["user"] = service_role
    params.pop("password", None)
    if password is not None:
        params["password"] = password
    return make_conninfo("", **params)


def migrate(owner_url: str, service_role: str | None = None, password: str | None = None) -> MigrationResult:
    """Apply the schema as the owner of `owner_url`, and grant `service_role` exactly
    what the service needs (see the module docstring). Without `service_role`, only the
    schema is applied (a one-URL deployment whose service is the owner)."""
    if service_role is not None:
        check_role_name(service_role)
    try:
        with psycopg.connect(owner_url, autocommit=False, connect_timeout=10) as conn:
            owner = _scalar(conn, "SELECT current_user")
            if service_role is not None and service_role == owner:
                raise MigrationError(
                    f"the service role {service_role!r} is the owner itself: give the service a "
                    "role of its own, or apply only the schema (no service role)"
                )
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            conn.execute(schema_sql().encode())
            created = set_password = False
            if service_role is not None:
                created = _ensure_role(conn, service_role, password)
                set_password = password is not None
                _check_role_is_unprivileged(conn, service_role)
                _grant(conn, service_role)
            version = int(str(_scalar(conn, "SELECT cardpack_schema_version()")))
            conn.commit()
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MigrationError(
            f"the owner role lacks a privilege the migration needs: {exc.diag.message_primary}. "
            "Run it as the role that owns the schema's tables (and may create roles, or "
            "create the service role beforehand)"
        ) from exc
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect with the owner URL: {exc}") from exc
    logger.info(
        "schema version %s applied as %s%s",
        version,
        owner,
        f"; {service_role} granted the service's privileges" if service_role else "",
    )
    return MigrationResult(str(owner), service_role or str(owner), created, set_password, version)


def _scalar(conn: psycopg.Connection[tuple[object, ...]], query: str) -> object:
    row = conn.execute(query.encode()).fetchone()
    assert row is not None  # nosec B101 # type narrowing: a scalar query has one row
    return row[0]


def _ensure_role(conn: psycopg.Connection[tuple[object, ...]], role: str, password: str | None) -> bool:
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    ident = sql.Identifier(role)
    if not exists:
        if password is None:
            raise MigrationError(
                f"the service role {role!r} does not exist and no password was given to create it with"
            )
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
            ).format(ident)
        )
    if password is not None:
        # ALTER ROLE takes no bind parameters; what it gets is the SCRAM verifier, hashed
        # here by libpq, never the password itself.
        verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(verifier.decode())))
    return not exists


def _check_role_is_unprivileged(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    row = conn.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    assert row is not None  # nosec B101 # type narrowing: the role exists by now
    attributes = [
        name
        for name, value in zip(
            ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"), row, strict=True
        )
        if value
    ]
    if attributes:
        raise MigrationError(
            f"the service role {role!r} has {', '.join(attributes)}: it must be an ordinary role "
            f"(ALTER ROLE {role} NO{attributes[0]}, or choose another role)"
        )
    owned = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND pg_has_role(%s, c.relowner, 'MEMBER')"
        " UNION ALL SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s AND pg_has_role(%s, p.proowner, 'MEMBER')"
        " UNION ALL SELECT n.nspname FROM pg_namespace n WHERE n.nspname = %s"
        " AND pg_has_role(%s, n.nspowner, 'MEMBER')",
        (SCHEMA, role, SCHEMA, role, SCHEMA, role),
    ).fetchall()
    if owned:
        names = ", ".join(sorted({str(name) for (name,) in owned})[:5])
        raise MigrationError(
            f"the service role {role!r} owns (or is a member of a role that owns) {names}: "
            "the service must own nothing; run the migration with the owner's URL and give the "
            "service a role of its own"
        )


def _grant(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    ident = sql.Identifier(role)
    schema = sql.Identifier(SCHEMA)
    database = sql.Identifier(str(_scalar(conn, "SELECT current_database()")))
    statements = [
        # Start from nothing on the schema's objects, then grant exactly the list.
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, ident),
        sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, ident),
        sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM {}").format(schema, ident),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, ident),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(schema),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, ident),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, ident),
        sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier(SCHEMA, table) for table in READ_TABLES), ident
        ),
        sql.SQL("GRANT INSERT ({}) ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier(column) for column in AUDIT_INSERT_COLUMNS),
            sql.Identifier(SCHEMA, "audit_log"),
            ident,
        ),
    ]
    statements += [
        sql.SQL("GRANT EXECUTE ON FUNCTION {}.{} TO {}").format(schema, sql.SQL(signature), ident)
        for signature in SERVICE_FUNCTIONS
    ]
    for statement in statements:
        conn.execute(statement)


def drop_service_role(owner_url: str, service_role: str) -> None:
    """Take the service role's privileges away and drop it (a retired or per-run role).
    A role that is gone already is fine; a role that owns something is refused by
    PostgreSQL, and the error says so."""
    check_role_name(service_role)
    ident = sql.Identifier(service_role)
    with psycopg.connect(owner_url, autocommit=False, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (service_role,)).fetchone():
            return
        conn.execute(
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sql.Identifier(SCHEMA), ident)
        )
        conn.execute(
            sql.SQL("REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {} FROM {}").format(sql.Identifier(SCHEMA), ident)
        )
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(sql.Identifier(SCHEMA), ident))
        database = sql.Identifier(str(_scalar(conn, "SELECT current_database()")))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(database, ident))
        conn.execute(sql.SQL("DROP ROLE {}").format(ident))
        conn.commit()
