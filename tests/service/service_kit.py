"""Helpers for the service tests: direct PostgreSQL reads, raw-body signing, checks.

The service is black-boxed over HTTP; these helpers only *read* its database (the source
of truth for exactly-once) and sign bodies the gateways' way when a test needs bytes the
harness's signer cannot produce (malformed JSON, say).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from standardwebhooks.webhooks import Webhook

from readiness_harness.gateways.clients import Reply
from readiness_harness.gateways.events import PATHS, Delivery, new_event_id
from readiness_harness.settings.secrets import Secrets
from readiness_harness.target.stack import EmbeddedDeployment, SubprocessService, service_environment
from readiness_harness.target.target import Target

USER_ID = "user-42"
PACK = "black"
PACK_SIZE = 5


def seconds_ago(seconds: int) -> int:
    """A whole-second timestamp at least `seconds` in the past when it arrives."""
    return math.floor(time.time()) - seconds


def seconds_ago_at_most(seconds: int) -> int:
    """A whole-second timestamp at most `seconds` (plus transit) in the past."""
    return math.ceil(time.time()) - seconds


def seconds_ahead_at_most(seconds: int) -> int:
    """A whole-second timestamp at most `seconds` in the future when it is signed."""
    return math.floor(time.time()) + seconds


def seconds_ahead(seconds: int) -> int:
    """A whole-second timestamp at least `seconds` in the future when it is signed."""
    return math.ceil(time.time()) + seconds


DATA = Path(__file__).parent / "data"


def session_deployment(target: Target) -> EmbeddedDeployment:
    """The embedded default's deployment (its servers), or skip: these tests start
    services of their own on it."""
    deployment = target.servers
    if not isinstance(deployment, EmbeddedDeployment):
        import pytest

        pytest.skip("starts a service of its own on the embedded default's servers")
    return deployment


def environment_on(target: Target, database_url: str | None = None, **settings: str) -> dict[str, str]:
    """The service's environment on the session's servers (as the owner, unless another
    `database_url` is given), with `settings` on top."""
    deployment = session_deployment(target)
    env = service_environment(
        database_url or deployment.database_url,
        deployment.redis_url,
        target.secrets,
        deployment.paypal_api_base,
    )
    return {**env, **settings}


@contextlib.contextmanager
def second_service(
    target: Target, database_url: str | None = None, **settings: str
) -> Iterator[SubprocessService]:
    """Another service process on the session's servers, with other settings."""
    service = SubprocessService(environment_on(target, database_url, **settings))
    try:
        service.start()
        yield service
    finally:
        service.cleanup()


@contextlib.contextmanager
def scratch_database(owner_url: str) -> Iterator[str]:
    """A new, empty database on the owner's server for one test; dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(owner_url, dbname=name)
    finally:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def url_as(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, as another role."""
    params = conninfo_to_dict(url)
    params.pop("password", None)
    return make_conninfo("", **{**params, "user": user, **({"password": password} if password else {})})


class ServiceDb:
    """Read-only views of the service's tables (plus the audit-log tamper attempts)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @staticmethod
    def old_schema() -> str:
        """The schema as it was before purchases were keyed by gateway (schema version 1)."""
        return (DATA / "schema_v1.sql").read_text(encoding="utf-8")

    def connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.url, autocommit=True, row_factory=dict_row)

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def purchases(self, payment_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT purchase_id, user_id, pack_type, status FROM purchases WHERE payment_id = %s",
            payment_id,
        )

    def cards(self, payment_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT c.card_id, c.artist_id, c.user_id, c.revoked FROM cards c"
            " JOIN purchases p USING (purchase_id) WHERE p.payment_id = %s ORDER BY c.card_id",
            payment_id,
        )

    def live_cards(self, payment_id: str) -> int:
        return sum(1 for card in self.cards(payment_id) if not card["revoked"])

    def processed_events(self, payment_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT gateway, event_id, event_type FROM webhook_events WHERE payment_id = %s", payment_id
        )

    def audit(self, payment_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM audit_log WHERE payment_id = %s ORDER BY audit_id", payment_id)


@dataclass(frozen=True)
class RawSigner:
    """Signs arbitrary bytes (not just JSON objects) with the target's shared secrets."""

    secrets: Secrets

    def standard(self, body: bytes, *, timestamp: int | None = None, msg_id: str | None = None) -> Delivery:
        msg_id = msg_id or new_event_id("standard")
        signed_at = int(time.time()) if timestamp is None else timestamp
        signature = Webhook(self.secrets.payments_webhook_secret.reveal()).sign(
            msg_id, datetime.fromtimestamp(signed_at, tz=UTC), body.decode()
        )
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(signed_at),
            "webhook-signature": signature,
        }
        return Delivery("standard", PATHS["standard"], body, headers, msg_id)

    def stripe(self, body: bytes, *, timestamp: int | None = None) -> Delivery:
        stamp = int(time.time()) if timestamp is None else timestamp
        key = self.secrets.stripe_webhook_secret.reveal().encode()
        digest = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "Stripe-Signature": f"t={stamp},v1={digest}"}
        return Delivery("stripe", PATHS["stripe"], body, headers)


def signature_values(delivery: Delivery) -> list[str]:
    """Every secret-bearing header value of a delivery, and the digests inside them."""
    values: list[str] = []
    for name, value in delivery.headers.items():
        if name.lower() in {"webhook-signature", "stripe-signature", "paypal-transmission-sig"}:
            values.append(value)
            values.extend(part for part in re.split(r"[ ,=]", value) if len(part) >= 16)
    return values


def secret_values(secrets: Secrets) -> list[str]:
    values = [
        secrets.payments_webhook_secret.reveal(),
        secrets.payments_webhook_secret.reveal().removeprefix("whsec_"),
        secrets.stripe_webhook_secret.reveal(),
        secrets.stripe_webhook_secret.reveal().removeprefix("whsec_"),
        secrets.paypal_client_secret.reveal(),
        secrets.admin_token.reveal(),
    ]
    return [value for value in values if value]


def assert_leaks_nothing(entries: list[dict[str, Any]], secrets: Secrets, delivery: Delivery) -> None:
    """No audit entry (any field) carries a secret or the delivery's signature."""
    forbidden = secret_values(secrets) + signature_values(delivery)
    for entry in entries:
        text = " ".join(str(value) for value in entry.values())
        leaked = [value for value in forbidden if value in text]
        assert not leaked, f"audit entry leaks a secret or signature: {entry}"


def assert_captured(reply: Reply, payment_id: str, user_id: str = USER_ID, pack: str = PACK) -> int:
    """The contract's capture answer, exactly; returns the purchase id."""
    assert reply.status_code == 200, reply
    purchase_id = reply.body.get("result", {}).get("purchase_id")
    assert isinstance(purchase_id, int), reply.body
    assert reply.body == {
        "status": "captured",
        "payment_id": payment_id,
        "user_id": user_id,
        "pack_type": pack,
        "result": {"status": "completed", "cards_created": PACK_SIZE, "purchase_id": purchase_id},
    }
    return purchase_id


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent) from exposition text."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return 0.0
