"""Schemathesis against the service's published OpenAPI: no 5xx, no purchase changed.

Webhook cases are signed after generation (as the gateway would sign them), so the
fuzzer reaches the parsing and recording code behind the signature check, not only the
401 in front of it. Each operation gets enough examples for well over 1000 cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from readiness_harness.gateways.events import Signer
from readiness_harness.target.target import Target

EXAMPLES_PER_OPERATION = 300
GATEWAY_OF_PATH = {
    "/webhooks/payments": "standard",
    "/webhooks/stripe": "stripe",
    "/webhooks/paypal": "paypal",
}


def _snapshot(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT p.purchase_id, p.payment_id, p.status, p.user_id, p.pack_type,"
            " array_agg(c.card_id ORDER BY c.card_id), bool_or(c.revoked)"
            " FROM purchases p LEFT JOIN cards c USING (purchase_id)"
            " GROUP BY p.purchase_id ORDER BY p.purchase_id"
        ).fetchall()


@pytest.fixture(scope="module")
def purchases_before(readiness_target: Target) -> Iterator[list[tuple[Any, ...]]]:
    assert readiness_target.database_url, "the fuzz test runs on the embedded default"
    before = _snapshot(readiness_target.database_url)
    yield before
    after = {row[0]: row for row in _snapshot(readiness_target.database_url)}
    changed = [row for row in before if after.get(row[0]) != row]
    assert not changed, f"fuzzing changed existing purchases: {changed[:5]}"


def _send(case: Any, target: Target) -> tuple[int, str]:
    gateway = GATEWAY_OF_PATH.get(case.path)
    if gateway is None:
        response = case.call(
            base_url=target.url,
            headers={"Authorization": f"Bearer {target.secrets.admin_token.reveal()}"},
            verify=str(target.ca_file) if target.ca_file else True,
        )
        return response.status_code, response.text
    body = json.dumps(case.body).encode() if case.body is not None else b""
    delivery = Signer(target.secrets).sign_raw(gateway, body)
    answer = httpx.post(
        f"{target.url}{case.path}",
        content=body,
        headers=delivery.headers,
        timeout=30,
        verify=target.verify,
    )
    return answer.status_code, answer.text


def test_no_generated_request_gets_a_server_error_or_changes_a_purchase(
    readiness_target: Target,
    purchases_before: list[tuple[Any, ...]],
    record_property: Any,
) -> None:
    published = httpx.get(f"{readiness_target.url}/openapi.json", verify=readiness_target.verify)
    schema = schemathesis.openapi.from_dict(published.raise_for_status().json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    server_errors: list[str] = []
    cases = 0
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            status, text = _send(case, readiness_target)
            if status >= 500:
                server_errors.append(f"{case.method} {case.path} -> {status}: {text[:200]}")

        run()
    assert not server_errors, server_errors[:5]
    assert cases >= 1000, f"only {cases} cases were generated"
    record_property("fuzz_cases", cases)
