"""`python -m cardpack_service` as its own process, and raw sockets to talk to it.

The launch settings (header limits, read timeouts, keep-alive, concurrency) live in the
protocol layer of the real server, so these tests reach it the way a client or an
attacker would: over TCP, byte by byte where that matters.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from readiness_harness.target.embedded import free_port


@dataclass
class LaunchedService:
    """The service started by its launcher, with this environment; stopped by `stop()`."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkstemp(prefix="cardpack-launch-", suffix=".log")[1])
    )
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cardpack_service"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the service exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the service did not answer /health within {timeout:.0f}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_path.unlink(missing_ok=True)


def run_launcher(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The launcher run to its end (for start failures and --help)."""
    return subprocess.run(
        [sys.executable, "-m", "cardpack_service", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def raw_connection(port: int, timeout: float = 30) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed
    (seconds from now); raises TimeoutError if it stays open longer than `limit_s`."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except TimeoutError:
            raise TimeoutError(f"still open after {limit_s:.1f}s; received {received[:200]!r}") from None
        if not chunk:
            return received, time.monotonic() - started
        received += chunk
        sock.settimeout(max(0.1, limit_s - (time.monotonic() - started)))


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body (headers and body may arrive apart)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response (0 when there is none)."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response.split(b" ", 2)[1])
