"""The audit table is append-only in the database: UPDATE, DELETE, TRUNCATE refused."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql
from service_kit import PACK, USER_ID, ServiceDb, assert_captured

from readiness_harness.gateways.events import Payment
from readiness_harness.gateways.simulator import GatewaySimulator


@pytest.fixture
def audited_payment(payment_gateway: GatewaySimulator, service_db: ServiceDb) -> Payment:
    payment = Payment.new(payment_gateway.require("standard"), USER_ID, PACK)
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    payment_gateway.send(payment_gateway.refund(payment))
    assert len(service_db.audit(payment.payment_id)) == 2
    return payment


TAMPERING = [
    pytest.param(
        "UPDATE audit_log SET outcome = 'rejected', detail = 'x' WHERE payment_id = {}", id="update"
    ),
    pytest.param("UPDATE audit_log SET detail = detail", id="update-all"),
    pytest.param("DELETE FROM audit_log WHERE payment_id = {}", id="delete"),
    pytest.param("DELETE FROM audit_log", id="delete-all"),
    pytest.param("TRUNCATE audit_log", id="truncate"),
    pytest.param("TRUNCATE audit_log RESTART IDENTITY CASCADE", id="truncate-cascade"),
]


@pytest.mark.parametrize("statement", TAMPERING)
def test_the_database_refuses_to_change_audit_rows(
    service_db: ServiceDb, audited_payment: Payment, statement: str
) -> None:
    before = service_db.audit(audited_payment.payment_id)
    total_before = service_db.query("SELECT count(*) AS n FROM audit_log")[0]["n"]
    query = sql.SQL(statement).format(sql.Literal(audited_payment.payment_id))

    with service_db.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        conn.execute(query)
    assert "append-only" in str(refused.value)

    assert service_db.audit(audited_payment.payment_id) == before
    assert service_db.query("SELECT count(*) AS n FROM audit_log")[0]["n"] >= total_before


def test_a_refused_change_inside_a_transaction_rolls_back_and_leaves_rows(
    service_db: ServiceDb, audited_payment: Payment
) -> None:
    before = service_db.audit(audited_payment.payment_id)
    with service_db.connect() as conn:
        conn.autocommit = False
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log WHERE payment_id = %s", (audited_payment.payment_id,))
        conn.rollback()
    assert service_db.audit(audited_payment.payment_id) == before
