"""Controls for the load benchmark: the same capture SQL driven by less than the service.

  direct_captures  Python asyncio + psycopg, one connection per in-flight call, no HTTP:
                   what Python itself costs next to pgbench's C client.
  bare_app         bare_capture_app.py under uvicorn (same workers and pool sizes as the
                   service): HTTP plus the SQL and nothing else.

Measured in the same run as pgbench and the service, they show how much of the gap
between the service and pgbench is the service's own code and how much is the platform
(Python, an HTTP hop, and every process sharing the same cores).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

from bare_capture_app import CAPTURE_SQL, capture_params
from readiness_harness.target.embedded import free_port

BENCH_DIR = Path(__file__).resolve().parent


async def direct_captures(database_url: str, events: list[dict[str, Any]], concurrency: int) -> float:
    """Captures per second with `concurrency` connections calling the SQL back to back."""
    queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    for event in events:
        queue.put_nowait(capture_params(event))
    connections = [await AsyncConnection.connect(database_url, autocommit=True) for _ in range(concurrency)]

    async def client(conn: AsyncConnection[Any]) -> None:
        while not queue.empty():
            params = queue.get_nowait()
            cursor = await conn.execute(CAPTURE_SQL, params, prepare=True)
            await cursor.fetchone()

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(conn) for conn in connections))
    finally:
        for conn in connections:
            await conn.close()
    return len(events) / (time.perf_counter() - started)


@contextmanager
def bare_app(database_url: str, workers: int, pool_min: int, pool_max: int) -> Iterator[int]:
    """bare_capture_app.py served by uvicorn on a free port; yields the port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DB_POOL_MIN_SIZE": str(pool_min),
        "DB_POOL_MAX_SIZE": str(pool_max),
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_capture_app:app",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        _wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bare_capture_app exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return  # workers still starting queue the caller's warm-up in the backlog
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"bare_capture_app did not listen on port {port} within {timeout:.0f} s")
