"""A lean HTTP/1.1 load generator: pre-built requests, keep-alive, asyncio streams.

Heavier clients (httpx, requests) spend more CPU per request than the service under
test on a 2-core machine, which would measure the client. This one writes bytes that
were built before the clock started and parses only the status line and length.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass(frozen=True)
class Request:
    raw: bytes


def build_request(url: str, path: str, body: bytes, headers: dict[str, str]) -> Request:
    host = urlparse(url).netloc
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return Request(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.statuses) / self.wall_s if self.wall_s else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def non_2xx(self) -> int:
        return sum(1 for status in self.statuses if not 200 <= status < 300)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Request
) -> tuple[int, bytes]:
    writer.write(request.raw)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed by the server")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def run(
    host: str, port: int, requests: list[Request], concurrency: int, keep_bodies: bool = False
) -> Result:
    """Send every request, `concurrency` at a time, each worker on its own connection."""
    result = Result()
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                try:
                    request = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    status, body = await _exchange(reader, writer, request)
                except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                    status, body = 0, b""
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                result.latencies.append(time.perf_counter() - started)
                result.statuses.append(status)
                if keep_bodies:
                    result.bodies.append(body)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_s = time.perf_counter() - started
    return result


async def storm(host: str, port: int, request: Request, count: int) -> Result:
    """`count` connections opened first, then the same request fired on all at once."""
    result = Result()
    connections = [await asyncio.open_connection(host, port) for _ in range(count)]
    gate = asyncio.Event()

    async def fire(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await gate.wait()
        started = time.perf_counter()
        try:
            status, body = await _exchange(reader, writer, request)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            status, body = 0, b""
        result.latencies.append(time.perf_counter() - started)
        result.statuses.append(status)
        result.bodies.append(body)
        writer.close()

    tasks = [asyncio.create_task(fire(reader, writer)) for reader, writer in connections]
    await asyncio.sleep(0)
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    result.wall_s = time.perf_counter() - started
    return result
