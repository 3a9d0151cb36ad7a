"""Preflight: before any scenario runs, check what the selected lines will need.

The target was reachable (or `resolve.deployed_target` would have stopped the run);
here each secret is tried once with a signed delivery of a type the service only
acknowledges (`readiness.preflight`), the admin token once on the audit trail, the
PayPal stand-in is watched for the target's verification call, and the database and
Redis the run was given are connected to. Each finding is printed up front and kept in
readiness.json, so a wrong secret is named before dozens of lines fail because of it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from readiness_harness.gateways.clients import AdminClient, WebhookClient
from readiness_harness.gateways.events import GatewayName, Payment
from readiness_harness.gateways.paypal_sandbox import PayPalSandbox
from readiness_harness.gateways.simulator import GatewaySimulator
from readiness_harness.settings.secrets import redact_url
from readiness_harness.target.target import GATEWAY_SECRETS, Target

PROBE_EVENT_TYPE = "readiness.preflight"
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"  [{'ok' if self.ok else '!!'}] {self.check}: {self.detail}"


def _probe_gateway(simulator: GatewaySimulator, gateway: GatewayName) -> Finding:
    target = simulator.target
    name = f"{gateway} deliveries"
    sandbox = target.provided.get("paypal_signing")
    if gateway == "paypal":
        if not isinstance(sandbox, PayPalSandbox):
            return Finding(
                name, False, "not measurable: PayPal signs real events itself (give --paypal-sandbox)"
            )
    elif not target.embedded and not target.secrets.given(GATEWAY_SECRETS[gateway]):
        return Finding(name, False, f"not measurable: {GATEWAY_SECRETS[gateway]} is not set")
    before = sandbox.verifications if isinstance(sandbox, PayPalSandbox) else 0
    reply = simulator.send(simulator.other(Payment.new(gateway, "preflight", "black"), PROBE_EVENT_TYPE))
    if gateway == "paypal" and isinstance(sandbox, PayPalSandbox) and sandbox.verifications == before:
        target.missing["paypal_signing"] = (
            f"the target did not ask the PayPal sandbox at {sandbox.api_base} to verify a PayPal delivery "
            f"(it answered {reply.status_code}): set the deployment's PAYPAL_API_BASE to it"
        )
        return Finding(name, False, target.missing["paypal_signing"])
    if reply.ok:
        return Finding(
            name, True, f"a signed {PROBE_EVENT_TYPE} delivery was acknowledged ({reply.status_code})"
        )
    if reply.status_code == 401:
        return Finding(name, False, "refused as unauthorized" + simulator.secret_hint(reply))
    return Finding(name, False, f"a signed delivery answered {reply.status_code}: {str(reply.body)[:200]}")


def _probe_admin(admin: AdminClient) -> Finding:
    reply = admin.get_with_token("/audit?event_id=readiness-preflight", admin.token)
    if reply.status_code == 200:
        return Finding("admin API", True, "ADMIN_TOKEN opens /audit")
    if reply.status_code == 401:
        return Finding(
            "admin API", False, "ADMIN_TOKEN was refused by /audit: check that it is the target's token"
        )
    return Finding("admin API", False, f"/audit answered {reply.status_code}")


def _probe_database(url: str) -> Finding:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finding("database", False, f"{redact_url(url)} refused a connection: {first}")
    return Finding("database", True, f"{redact_url(url)} answers")


def _probe_redis(url: str) -> Finding:
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=CONNECT_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return Finding("redis", False, f"{redact_url(url)} did not answer PING: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(redis.RedisError):
            client.close()
    return Finding("redis", True, f"{redact_url(url)} answers PING")


def preflight(target: Target, client: WebhookClient, admin: AdminClient) -> list[Finding]:
    simulator = GatewaySimulator(target, client)
    findings = [_probe_gateway(simulator, gateway) for gateway in target.gateways]  # type: ignore[arg-type]
    if target.embedded or target.secrets.given("ADMIN_TOKEN"):
        findings.append(_probe_admin(admin))
    else:
        findings.append(Finding("admin API", False, "not measurable: ADMIN_TOKEN is not set"))
    if target.database_url:
        findings.append(_probe_database(target.database_url))
    if target.redis_url:
        findings.append(_probe_redis(target.redis_url))
    return findings
