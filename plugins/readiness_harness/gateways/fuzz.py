"""Fuzz a target through its published OpenAPI document, bounded, with webhooks signed.

schemathesis generates requests for every operation of the document; webhook bodies are
signed after generation the way their gateway signs them (so the fuzzer reaches the code
behind the signature check, not only the 401 in front of it), admin routes carry the
admin token when the run has it. A server error (5xx) or a request the target never
answered is a finding. Each case makes up its own ids: nothing of the target's own data
is named, but accepted captures do create purchases for made-up payments.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests

from readiness_harness.gateways.events import GatewayName, Signer
from readiness_harness.target.target import Target

GATEWAY_OF_PATH: dict[str, GatewayName] = {
    "/webhooks/payments": "standard",
    "/webhooks/stripe": "stripe",
    "/webhooks/paypal": "paypal",
}
REQUEST_TIMEOUT_S = 30.0


@dataclass
class FuzzRun:
    cases: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "by_operation": self.by_operation,
            "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
            "server_errors": self.server_errors[:20],
        }


def _send(case: Any, target: Target, signer: Signer, client: httpx.Client) -> tuple[int, str]:
    gateway = GATEWAY_OF_PATH.get(case.path)
    if gateway is None:
        headers = {}
        if target.embedded or target.secrets.given("ADMIN_TOKEN"):
            headers["Authorization"] = f"Bearer {target.secrets.admin_token.reveal()}"
        # schemathesis sends through requests, whose `verify` is a CA bundle path or a bool.
        verify: str | bool = str(target.ca_file) if target.ca_file else True
        response = case.call(base_url=target.url, headers=headers, verify=verify)
        return int(response.status_code), str(response.text)
    body = json.dumps(case.body).encode() if case.body is not None else b""
    delivery = signer.sign_raw(gateway, body)
    answer = client.post(case.path, content=body, headers=delivery.headers)
    return answer.status_code, answer.text


def _fuzz_operation(
    operation: Any, per_operation: int, run: FuzzRun, send: Callable[[Any], tuple[int, str]]
) -> None:
    from hypothesis import HealthCheck, given, settings

    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(
        max_examples=per_operation, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def one(case: Any) -> None:
        run.cases += 1
        run.by_operation[label] = run.by_operation.get(label, 0) + 1
        try:
            status, text = send(case)
        except (httpx.HTTPError, requests.RequestException) as exc:
            run.server_errors.append(f"{label}: no answer ({type(exc).__name__}: {exc})")
            return
        run.statuses[status] = run.statuses.get(status, 0) + 1
        if status >= 500:
            run.server_errors.append(f"{label} -> {status}: {text[:200]}")

    one()


def fuzz(target: Target, schema_document: dict[str, Any], per_operation: int) -> FuzzRun:
    """`per_operation` generated requests for every operation of the document."""
    import schemathesis
    from schemathesis.core.result import Ok

    schema = schemathesis.openapi.from_dict(schema_document)
    run = FuzzRun()
    signer = Signer(target.secrets)
    with httpx.Client(base_url=target.url, timeout=REQUEST_TIMEOUT_S, verify=target.verify) as client:
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                run.server_errors.append(
                    f"the API document has an operation schemathesis cannot read: {result.err()}"
                )
                continue
            _fuzz_operation(result.ok(), per_operation, run, lambda case: _send(case, target, signer, client))
    return run
