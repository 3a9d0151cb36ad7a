"""HTTP clients the steps use through fixtures: deliveries and the admin API.

`WebhookClient` sends one delivery, the same delivery again and again, or many at once
(real concurrency: one connection per in-flight request). `AdminClient` reads
purchases and the audit trail with the bearer token.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

from readiness_harness.gateways.events import Delivery
from readiness_harness.settings.secrets import Secret

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: dict[str, Any]
    delivery: Delivery | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """2xx. A transport error (no HTTP answer at all) has status_code 0."""
        return 200 <= self.status_code < 300


def _reply(response: httpx.Response, delivery: Delivery | None = None) -> Reply:
    try:
        body = response.json()
    except ValueError:
        body = {"raw": response.text[:500]}
    return Reply(response.status_code, body if isinstance(body, dict) else {"value": body}, delivery)


class WebhookClient:
    def __init__(
        self, base_url: str, timeout: float = DEFAULT_TIMEOUT_S, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, delivery: Delivery) -> Reply:
        return _reply(
            self._client.post(delivery.path, content=delivery.body, headers=delivery.headers), delivery
        )

    def send_repeatedly(self, delivery: Delivery, times: int) -> list[Reply]:
        return [self.send(delivery) for _ in range(times)]

    def send_concurrently(self, deliveries: list[Delivery]) -> list[Reply]:
        """All deliveries in flight at once, each on its own connection."""
        return asyncio.run(self._send_all(deliveries))

    async def _send_all(self, deliveries: list[Delivery]) -> list[Reply]:
        limits = httpx.Limits(max_connections=len(deliveries), max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits, verify=self.verify
        ) as client:
            start = asyncio.Event()

            async def one(delivery: Delivery) -> Reply:
                await start.wait()
                try:
                    response = await client.post(
                        delivery.path, content=delivery.body, headers=delivery.headers
                    )
                except httpx.TransportError as exc:  # cut connection, refused, timeout
                    return Reply(0, {"error": f"{type(exc).__name__}: {exc}"}, delivery)
                return _reply(response, delivery)

            tasks = [asyncio.create_task(one(delivery)) for delivery in deliveries]
            await asyncio.sleep(0)
            start.set()
            return list(await asyncio.gather(*tasks))

    def get(self, path: str) -> Reply:
        return _reply(self._client.get(path))

    def get_text(self, path: str) -> tuple[int, str]:
        response = self._client.get(path)
        return response.status_code, response.text


class AdminClient:
    """The admin API (purchases, audit trail) with the bearer token."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        timeout: float = DEFAULT_TIMEOUT_S,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.verify = verify
        self.token = token
        self._client = httpx.Client(
            verify=verify,
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {token.reveal()}"},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def purchase(self, payment_id: str, gateway: str | None = None) -> Reply:
        """The purchase of `payment_id` (of `gateway`, for a service that keys purchases by
        gateway; others ignore the parameter)."""
        params = {"gateway": gateway} if gateway else None
        return _reply(self._client.get(f"/purchases/{payment_id}", params=params))

    def get_with_token(self, path: str, token: Secret | str | None) -> Reply:
        """GET `path` with the given bearer token (or none), not necessarily the admin's."""
        value = token.reveal() if isinstance(token, Secret) else token
        headers = {"Authorization": f"Bearer {value}"} if value is not None else {}
        with httpx.Client(
            base_url=self._client.base_url, timeout=self._client.timeout, verify=self.verify
        ) as bare:
            return _reply(bare.get(path, headers=headers))

    def audit(self, payment_id: str | None = None, event_id: str | None = None) -> list[dict[str, Any]]:
        params = {key: value for key, value in (("payment_id", payment_id), ("event_id", event_id)) if value}
        reply = _reply(self._client.get("/audit", params=params))
        if reply.status_code != 200:
            raise AssertionError(f"GET /audit answered {reply.status_code}: {reply.body}")
        entries: list[dict[str, Any]] = reply.body["entries"]
        return entries
