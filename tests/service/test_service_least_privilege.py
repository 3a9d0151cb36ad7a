"""Least privilege in PostgreSQL: the service's role owns nothing and may do only its job.

A role made by `cardpack_service.migrate` on the session's database (the one the
embedded service runs on) tries everything an attacker with the service's credentials
would try against the audit trail, and fails; what the service needs still works.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from service_kit import PACK, USER_ID, ServiceDb, assert_captured, environment_on, scratch_database, url_as

from cardpack_service.migrate import MigrationError, drop_service_role, migrate
from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.stack import SubprocessService
from readiness_harness.target.target import Target


@pytest.fixture(scope="module")
def owner_url(readiness_target: Target) -> str:
    if readiness_target.database_url is None:
        pytest.skip("needs the embedded default's database")
    return readiness_target.database_url


@pytest.fixture(scope="module")
def service_role(owner_url: str) -> Iterator[tuple[str, str]]:
    """A service role made by the migration, and its password."""
    role, password = f"cardpack_test_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    migrate(owner_url, role, password)
    yield role, password
    drop_service_role(owner_url, role)


@pytest.fixture
def as_service(owner_url: str, service_role: tuple[str, str]) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(url_as(owner_url, *service_role), autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def audited(payment_gateway: GatewaySimulator, service_db: ServiceDb) -> Payment:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    return payment


REFUSED = [
    pytest.param("UPDATE audit_log SET outcome = 'rejected' WHERE payment_id = {payment}", id="update-audit"),
    pytest.param("DELETE FROM audit_log WHERE payment_id = {payment}", id="delete-audit"),
    pytest.param("TRUNCATE audit_log", id="truncate-audit"),
    pytest.param("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete", id="disable-trigger"),
    pytest.param("ALTER TABLE audit_log DISABLE TRIGGER ALL", id="disable-all-triggers"),
    pytest.param("SET session_replication_role = replica", id="replication-role"),
    pytest.param(
        "CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END; $$",
        id="replace-trigger-function",
    ),
    pytest.param(
        "CREATE OR REPLACE FUNCTION audit_log_stamp_received_at() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RETURN NEW; END; $$",
        id="replace-stamp-function",
    ),
    pytest.param(
        "INSERT INTO audit_log (gateway, outcome, detail, received_at)"
        " VALUES ('stripe', 'accepted', 'back-dated', '2001-01-01')",
        id="back-date-received-at",
    ),
    pytest.param("DROP TABLE audit_log", id="drop-audit"),
    pytest.param("DROP TRIGGER audit_log_no_update_delete ON audit_log", id="drop-trigger"),
    pytest.param("UPDATE cards SET revoked = false", id="unrevoke-cards"),
    pytest.param("UPDATE purchases SET status = 'active'", id="update-purchases"),
    pytest.param("DELETE FROM purchases WHERE payment_id = {payment}", id="delete-purchase"),
    pytest.param("INSERT INTO cards (purchase_id, artist_id, user_id) VALUES (1, 1, 'x')", id="mint-cards"),
    pytest.param("DELETE FROM webhook_events", id="forget-dedupe"),
    pytest.param("SELECT * FROM webhook_events", id="read-dedupe"),
    pytest.param("CREATE TABLE planted (x int)", id="create-table"),
    pytest.param("SELECT * FROM pg_authid", id="read-password-hashes"),
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_service_role_cannot(
    as_service: psycopg.Connection[dict[str, Any]], audited: Payment, service_db: ServiceDb, statement: str
) -> None:
    before = service_db.audit(audited.payment_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_service.execute(sql.SQL(statement).format(payment=sql.Literal(audited.payment_id)))
    assert service_db.audit(audited.payment_id) == before
    assert service_db.purchases(audited.payment_id)[0]["status"] == "active"


def test_the_service_role_can_do_its_job(
    as_service: psycopg.Connection[dict[str, Any]], audited: Payment
) -> None:
    as_service.execute(
        "INSERT INTO audit_log (event_id, gateway, event_type, payment_id, outcome, detail)"
        " VALUES ('evt_lp', 'standard', 'payment.captured', %s, 'rejected', 'least privilege test')",
        (audited.payment_id,),
    )
    rows = as_service.execute(
        "SELECT outcome, received_at > now() - interval '1 minute' AS fresh FROM audit_log"
        " WHERE payment_id = %s ORDER BY audit_id",
        (audited.payment_id,),
    ).fetchall()
    assert rows == [{"outcome": "accepted", "fresh": True}, {"outcome": "rejected", "fresh": True}]
    refund = as_service.execute(
        "SELECT * FROM record_refund('standard', %s, 'payment.refunded', %s)",
        ("evt_lp_r", audited.payment_id),
    ).fetchone()
    assert refund is not None and refund["outcome"] == "accepted" and refund["cards_revoked"] == 5
    counts = as_service.execute(
        "SELECT (SELECT count(*) FROM cards) AS cards, (SELECT count(*) FROM artists) AS artists"
    ).fetchone()
    assert counts is not None and counts["artists"] >= 1


def test_received_at_is_stamped_by_the_database_even_for_the_owner(
    service_db: ServiceDb, audited: Payment
) -> None:
    with service_db.connect() as conn:
        row = conn.execute(
            "INSERT INTO audit_log (gateway, payment_id, outcome, detail, received_at)"
            " VALUES ('standard', %s, 'rejected', 'owner back-dating', '2001-01-01') RETURNING received_at",
            (audited.payment_id,),
        ).fetchone()
    assert row is not None and row["received_at"].year >= 2025


def test_the_migration_grants_exactly_the_list(owner_url: str, service_role: tuple[str, str]) -> None:
    role = service_role[0]
    migrate(owner_url, role)  # a second run (without a password) leaves the same grants
    with psycopg.connect(owner_url) as conn:
        tables = conn.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = %s ORDER BY 1, 2",
            (role,),
        ).fetchall()
        columns = conn.execute(
            "SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges"
            " WHERE grantee = %s AND privilege_type <> 'SELECT' ORDER BY 1, 2, 3",
            (role,),
        ).fetchall()
        functions = conn.execute(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND has_function_privilege(%s, p.oid, 'EXECUTE') ORDER BY 1",
            (role,),
        ).fetchall()
        owns = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
            (role,),
        ).fetchone()
    assert tables == [
        ("artists", "SELECT"),
        ("audit_log", "SELECT"),
        ("cards", "SELECT"),
        ("purchases", "SELECT"),
    ]
    assert columns == [
        ("audit_log", column, "INSERT")
        for column in sorted(("detail", "event_id", "event_type", "gateway", "outcome", "payment_id"))
    ]
    assert [name for (name,) in functions] == ["cardpack_schema_version", "record_capture", "record_refund"]
    assert owns == (0,)


def test_the_embedded_service_connects_as_a_role_that_owns_nothing(
    owner_url: str, webhook_gateway_warmed: None
) -> None:
    with psycopg.connect(owner_url) as conn:
        roles = conn.execute(
            "SELECT DISTINCT a.usename, r.rolsuper,"
            " has_table_privilege(a.usename, 'audit_log', 'UPDATE') AS can_update,"
            " (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid) AS owned"
            " FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename"
            " WHERE a.application_name = 'cardpack-service' AND a.datname = current_database()"
        ).fetchall()
    assert roles, "no connection of the service found in pg_stat_activity"
    for user, superuser, can_update, owned in roles:
        assert user.startswith("cardpack_service_"), roles
        assert (superuser, can_update, owned) == (False, False, 0), roles


@pytest.fixture
def webhook_gateway_warmed(payment_gateway: GatewaySimulator) -> None:
    """One delivery, so the service's pool has connections open."""
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)


@pytest.mark.parametrize("attribute", ["SUPERUSER", "CREATEROLE"])
def test_the_migration_refuses_a_privileged_service_role(owner_url: str, attribute: str) -> None:
    role = f"cardpack_bad_{secrets.token_hex(4)}"
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN " + attribute).format(sql.Identifier(role)))
    try:
        with pytest.raises(MigrationError, match=attribute):
            migrate(owner_url, role)
    finally:
        drop_service_role(owner_url, role)


def test_the_migration_refuses_a_service_role_that_owns_the_tables(owner_url: str) -> None:
    with scratch_database(owner_url) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE ROLE cardpack_owner_role_test LOGIN")
        try:
            conn.execute("GRANT CREATE ON SCHEMA public TO cardpack_owner_role_test")
            conn.execute("SET ROLE cardpack_owner_role_test")
            conn.execute("CREATE TABLE owned_by_the_service (x int)")
            conn.execute("RESET ROLE")
            with pytest.raises(MigrationError, match="owns"):
                migrate(url, "cardpack_owner_role_test", "pw-" + secrets.token_hex(8))
        finally:
            conn.execute("DROP OWNED BY cardpack_owner_role_test")
            conn.execute("DROP ROLE cardpack_owner_role_test")


# --- the command line and the service's start -------------------------------------------


def _migrate_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cardpack_service.migrate", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_migrate_command_applies_schema_and_role_and_prints_no_password(owner_url: str) -> None:
    password = "pw-" + secrets.token_hex(12)
    role = f"cardpack_cli_{secrets.token_hex(4)}"
    with scratch_database(owner_url) as url:
        try:
            done = _migrate_cli(
                {"MIGRATION_DATABASE_URL": url, "SERVICE_ROLE_PASSWORD": password}, "--service-role", role
            )
            assert done.returncode == 0, done.stderr
            assert f"service role {role} created, password set" in done.stderr
            assert password not in done.stdout + done.stderr
            with psycopg.connect(url_as(url, role, password)) as conn:
                assert conn.execute("SELECT cardpack_schema_version()").fetchone() == (2,)
        finally:
            drop_service_role(url, role)


def test_the_migrate_command_explains_what_is_missing() -> None:
    done = _migrate_cli({"MIGRATION_DATABASE_URL": ""})
    assert done.returncode == 2
    assert "MIGRATION_DATABASE_URL is not set" in done.stderr
    helped = _migrate_cli({}, "--help")
    assert helped.returncode == 0 and "SERVICE_ROLE_PASSWORD" in helped.stdout
    bad = _migrate_cli(
        {"MIGRATION_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}, "--service-role", "Robert'); --"
    )
    assert bad.returncode == 1 and "invalid service role name" in bad.stderr


def _service_on(env: dict[str, str], readiness_target: Target) -> SubprocessService:
    return SubprocessService(environment_on(readiness_target, env.pop("DATABASE_URL"), **env))


def test_migrate_on_start_runs_a_one_url_deployment(owner_url: str, readiness_target: Target) -> None:
    with scratch_database(owner_url) as url:
        service = _service_on({"DATABASE_URL": url, "MIGRATE_ON_START": "true"}, readiness_target)
        service.start(timeout=30)
        service.cleanup()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT cardpack_schema_version()").fetchone() == (2,)


def test_a_migration_url_makes_the_service_role_at_start(owner_url: str, readiness_target: Target) -> None:
    role, password = f"cardpack_start_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with scratch_database(owner_url) as url:
        service = _service_on(
            {"DATABASE_URL": url_as(url, role, password), "MIGRATION_DATABASE_URL": url}, readiness_target
        )
        try:
            service.start(timeout=30)
            service.cleanup()
            with psycopg.connect(url) as conn:
                privileges = conn.execute(
                    "SELECT has_table_privilege(%s, 'audit_log', 'INSERT'),"
                    " has_table_privilege(%s, 'audit_log', 'UPDATE'), rolsuper"
                    " FROM pg_roles WHERE rolname = %s",
                    (role, role, role),
                ).fetchone()
            assert privileges == (False, False, False), "column INSERT only, no UPDATE, no superuser"
        finally:
            drop_service_role(url, role)
