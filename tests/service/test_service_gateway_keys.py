"""Purchases are keyed by (gateway, payment id): one gateway never refunds another's.

A payment id is the gateway's own. A refund for an id that only another gateway knows is
refused (422, audited as rejected) and revokes nothing; the same id captured by two
gateways is two purchases; the early refund (refund before capture) works per gateway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from psycopg import sql
from service_kit import PACK_SIZE, ServiceDb, assert_captured, scratch_database

from cardpack_service.migrate import migrate
from readiness_harness.gateways.clients import AdminClient
from readiness_harness.gateways.events import GatewayName, Payment, new_event_id
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.target.target import Target

OTHER: dict[GatewayName, GatewayName] = {"stripe": "standard", "paypal": "stripe", "standard": "paypal"}


def same_id_on(payment: Payment, gateway: GatewayName) -> Payment:
    """The same payment id, as another gateway would send it (its own event ids)."""
    return dataclasses.replace(
        payment,
        gateway=gateway,
        capture_event_id=new_event_id(gateway),
        refund_event_id=new_event_id(gateway),
    )


def test_a_refund_from_another_gateway_is_refused_and_revokes_nothing(
    payment_gateway: GatewaySimulator, payment: Payment, admin_client: AdminClient, service_db: ServiceDb
) -> None:
    purchase_id = assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    intruder = same_id_on(payment, payment_gateway.require(OTHER[payment.gateway]))

    reply = payment_gateway.send(payment_gateway.refund(intruder))

    assert reply.status_code == 422, reply
    assert reply.body == {"detail": "payment belongs to another gateway", "payment_id": payment.payment_id}
    assert service_db.live_cards(payment.payment_id) == PACK_SIZE
    purchase = admin_client.purchase(payment.payment_id).body
    assert (purchase["purchase_id"], purchase["gateway"], purchase["status"]) == (
        purchase_id,
        payment.gateway,
        "active",
    )
    refused = [
        entry for entry in admin_client.audit(payment.payment_id) if entry["gateway"] == intruder.gateway
    ]
    assert [(entry["event_id"], entry["outcome"], entry["detail"]) for entry in refused] == [
        (intruder.refund_event_id, "rejected", "payment belongs to another gateway")
    ]
    # nothing was recorded for the refused refund: no dedupe record, no placeholder purchase
    assert {row["gateway"] for row in service_db.processed_events(payment.payment_id)} == {payment.gateway}
    assert len(service_db.purchases(payment.payment_id)) == 1
    # and the owner's own refund still works afterwards
    own = payment_gateway.send(payment_gateway.refund(payment))
    assert (own.status_code, own.body["result"]["cards_revoked"]) == (200, PACK_SIZE), own


def test_the_same_id_from_two_gateways_is_two_purchases_and_each_refund_keeps_to_its_own(
    payment_gateway: GatewaySimulator, payment: Payment, admin_http: httpx.Client, service_db: ServiceDb
) -> None:
    twin = same_id_on(payment, payment_gateway.require(OTHER[payment.gateway]))
    first = assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    second = assert_captured(payment_gateway.send(payment_gateway.capture(twin)), payment.payment_id)
    assert first != second
    assert service_db.live_cards(payment.payment_id) == 2 * PACK_SIZE

    refund = payment_gateway.send(payment_gateway.refund(twin))
    assert (refund.status_code, refund.body["result"]) == (
        200,
        {"cards_revoked": PACK_SIZE, "purchase_id": second},
    )

    both = admin_http.get(f"/purchases/{payment.payment_id}")
    assert both.status_code == 409, both.text
    assert both.json()["gateways"] == [payment.gateway, twin.gateway]
    mine = admin_http.get(f"/purchases/{payment.payment_id}", params={"gateway": payment.gateway}).json()
    theirs = admin_http.get(f"/purchases/{payment.payment_id}", params={"gateway": twin.gateway}).json()
    assert (mine["purchase_id"], mine["status"]) == (first, "active")
    assert all(not card["revoked"] for card in mine["cards"]) and len(mine["cards"]) == PACK_SIZE
    assert (theirs["purchase_id"], theirs["status"]) == (second, "refunded")
    assert all(card["revoked"] for card in theirs["cards"])
    audit = admin_http.get(
        "/audit", params={"payment_id": payment.payment_id, "gateway": twin.gateway}
    ).json()
    assert {entry["gateway"] for entry in audit["entries"]} == {twin.gateway}


def test_a_gateway_filter_for_a_gateway_without_the_payment_is_404(
    payment_gateway: GatewaySimulator, payment: Payment, admin_http: httpx.Client
) -> None:
    assert_captured(payment_gateway.send(payment_gateway.capture(payment)), payment.payment_id)
    response = admin_http.get(f"/purchases/{payment.payment_id}", params={"gateway": OTHER[payment.gateway]})
    assert response.status_code == 404, response.text


def test_an_early_refund_is_kept_per_gateway(
    payment_gateway: GatewaySimulator, payment: Payment, admin_http: httpx.Client, service_db: ServiceDb
) -> None:
    twin = same_id_on(payment, payment_gateway.require(OTHER[payment.gateway]))
    early = payment_gateway.send(payment_gateway.refund(payment))
    assert (early.status_code, early.body["status"]) == (200, "refunded"), early

    # the other gateway's capture of the same id is its own payment: delivered in full
    assert_captured(payment_gateway.send(payment_gateway.capture(twin)), payment.payment_id)
    # the refunded gateway's late capture delivers nothing live
    late = payment_gateway.send(payment_gateway.capture(payment))
    assert late.status_code == 200, late
    assert late.body["result"]["status"] == "refunded" and late.body["result"]["cards_created"] == 0

    refunded = admin_http.get(f"/purchases/{payment.payment_id}", params={"gateway": payment.gateway}).json()
    delivered = admin_http.get(f"/purchases/{payment.payment_id}", params={"gateway": twin.gateway}).json()
    assert (refunded["status"], refunded["cards"]) == ("refunded", [])
    assert delivered["status"] == "active" and len(delivered["cards"]) == PACK_SIZE
    assert service_db.live_cards(payment.payment_id) == PACK_SIZE


# --- migrating a database made before purchases were keyed by gateway ------------------


@pytest.fixture
def old_database(readiness_target: Target) -> Iterator[str]:
    """A scratch database with the previous schema (unique payment_id) and rows in it."""
    assert readiness_target.database_url
    with scratch_database(readiness_target.database_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(ServiceDb.old_schema().encode())
            for index in range(3):
                conn.execute(
                    "SELECT * FROM record_capture('stripe', %s, 'payment.captured', %s,"
                    " 'u', 'black', 500, 'usd')",
                    (f"evt_old_{index}", f"pi_old_{index}"),
                )
            conn.execute("SELECT * FROM record_refund('stripe', 'evt_old_r', 'payment.refunded', 'pi_old_0')")
        yield url


def _snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY 1, 2").format(sql.Identifier(table))
            ).fetchall()
            for table in ("purchases", "cards", "webhook_events", "audit_log")
        }


def _unique_keys(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'purchases'::regclass AND contype = 'u' ORDER BY conname"
        ).fetchall()
    return [row[0] for row in rows]


def test_migrating_an_old_database_replaces_the_key_and_keeps_every_row(old_database: str) -> None:
    before = _snapshot(old_database)
    assert _unique_keys(old_database) == ["UNIQUE (payment_id)"]

    migrate(old_database)

    assert _unique_keys(old_database) == ["UNIQUE (payment_id, gateway)"]
    after = _snapshot(old_database)
    assert after == before, "the migration changed or lost rows"
    migrate(old_database)  # idempotent: a second run changes nothing
    assert _unique_keys(old_database) == ["UNIQUE (payment_id, gateway)"]
    assert _snapshot(old_database) == after

    with psycopg.connect(old_database, autocommit=True) as conn:
        # the old rows behave under the new rules: same gateway is a duplicate, another
        # gateway's refund is refused, another gateway's capture is its own purchase
        again = conn.execute(
            "SELECT outcome FROM record_capture('stripe', 'evt_new', 'payment.captured', 'pi_old_1',"
            " 'u', 'black', 500, 'usd')"
        ).fetchone()
        refused = conn.execute(
            "SELECT outcome FROM record_refund('paypal', 'evt_pp', 'payment.refunded', 'pi_old_1')"
        ).fetchone()
        other = conn.execute(
            "SELECT outcome FROM record_capture('standard', 'evt_std', 'payment.captured', 'pi_old_1',"
            " 'u', 'black', 500, 'usd')"
        ).fetchone()
    assert (again, refused, other) == (("duplicate",), ("rejected",), ("accepted",))
