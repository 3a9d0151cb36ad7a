"""Deliveries streamed the way a busy gateway sends them: a few in flight at a time.

Each worker keeps its own connection; a delivery that gets no HTTP answer (cut mid-flight,
refused, timed out) is a Reply with status 0, so a caller can retry it as a gateway would.
`on_answer(n)` is called after the n-th acknowledged delivery (from a worker thread), so a
scenario can break something part way through.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from readiness_harness.gateways.clients import Reply, WebhookClient
from readiness_harness.gateways.events import Delivery

STREAM_TIMEOUT_S = 10.0


def stream(
    url: str,
    verify: ssl.SSLContext | bool,
    deliveries: list[Delivery],
    in_flight: int,
    on_answer: Callable[[int], None] = lambda answered: None,
) -> list[Reply]:
    """Send `deliveries` in order, `in_flight` at a time; replies in the same order."""
    replies: list[Reply | None] = [None] * len(deliveries)
    answered = 0
    lock = threading.Lock()
    cursor = iter(range(len(deliveries)))

    def worker() -> None:
        nonlocal answered
        with WebhookClient(url, timeout=STREAM_TIMEOUT_S, verify=verify) as client:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                try:
                    reply = client.send(deliveries[index])
                except httpx.HTTPError as exc:
                    reply = Reply(0, {"error": f"{type(exc).__name__}: {exc}"}, deliveries[index])
                replies[index] = reply
                if reply.ok:
                    with lock:
                        answered += 1
                        count = answered
                    on_answer(count)

    with ThreadPoolExecutor(max_workers=max(1, in_flight)) as pool:
        for future in [pool.submit(worker) for _ in range(max(1, in_flight))]:
            future.result()
    return [reply if reply is not None else Reply(0, {"error": "not sent"}) for reply in replies]
