"""Outage control of a running `readiness serve`, for `readiness check --outage-hooks`.

`readiness serve --outage-hooks-file PATH` listens on a Unix socket in its private folder
(0700, the socket 0600: only this user and root reach it) and writes PATH, an outage
hooks file whose commands are `readiness serve-control SOCKET stop|start PART`. A check
run elsewhere, given that file and `--allow-disruption`, then stops and starts the served
deployment's PostgreSQL, Redis and service process the way an operator's hooks stop a
real deployment's: by command, knowing nothing but the URL and the hooks.

The protocol is one line each way: `stop database` -> `ok` or `error: <why>`.
"""

from __future__ import annotations

import os
import socket
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from readiness_harness.target.outages import EmbeddedOutageControl, OutageError

ACTIONS = ("stop", "start")
REPLY_LIMIT = 2000
CLIENT_TIMEOUT_S = 120.0


class ServeControlError(RuntimeError):
    """A control request that failed; the message says what and why."""


class _Handler(socketserver.StreamRequestHandler):
    server: ControlServer

    def handle(self) -> None:
        request = self.rfile.readline(200).decode("utf-8", "replace").split()
        reply = self.server.perform(request)
        self.wfile.write((reply[:REPLY_LIMIT] + "\n").encode("utf-8"))


class ControlServer(socketserver.ThreadingUnixStreamServer):
    """Serves stop/start requests for an embedded deployment's parts, one at a time."""

    daemon_threads = True

    def __init__(self, path: Path, control: EmbeddedOutageControl) -> None:
        self.control = control
        self._lock = threading.Lock()
        self.path = path
        previous = os.umask(0o177)  # the socket is created 0600
        try:
            super().__init__(str(path), _Handler)
        finally:
            os.umask(previous)
        self._thread = threading.Thread(target=self.serve_forever, name="serve-control", daemon=True)

    def perform(self, request: list[str]) -> str:
        if len(request) != 2 or request[0] not in ACTIONS:
            return f"error: expected '<{'|'.join(ACTIONS)}> <part>', got {' '.join(request)[:80]!r}"
        action, part = request
        if part not in self.control.parts:
            return f"error: this deployment controls {', '.join(self.control.parts)}, not {part!r}"
        with self._lock:
            try:
                (self.control.stop if action == "stop" else self.control.start)(part)
            except (OutageError, OSError, RuntimeError) as exc:
                return f"error: {action} {part} failed: {exc}"
        return "ok"

    def start_serving(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.path.unlink(missing_ok=True)


def hooks_document(socket_path: Path, parts: tuple[str, ...]) -> dict[str, Any]:
    """An outage hooks file (target.outages) whose commands ask this deployment's socket."""
    command = [sys.executable, "-m", "readiness_harness.cli.main", "serve-control", str(socket_path)]
    return {
        **{part: {"stop": [*command, "stop", part], "start": [*command, "start", part]} for part in parts},
        "timeout_seconds": 120,
    }


def write_hooks_file(path: Path, socket_path: Path, parts: tuple[str, ...]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("# written by `readiness serve --outage-hooks-file`; valid while it runs\n")
        yaml.safe_dump(hooks_document(socket_path, parts), handle, sort_keys=False)


def request(socket_path: Path, action: str, part: str, timeout: float = CLIENT_TIMEOUT_S) -> None:
    """Ask a running serve to stop or start `part`; raise ServeControlError unless it did."""
    if action not in ACTIONS:
        raise ServeControlError(f"unknown action {action!r}: use {' or '.join(ACTIONS)}")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(str(socket_path))
            client.sendall(f"{action} {part}\n".encode())
            reply = client.makefile("rb").readline(REPLY_LIMIT + 2).decode("utf-8", "replace").strip()
    except OSError as exc:
        raise ServeControlError(
            f"no running `readiness serve` answers on {socket_path}: {exc} "
            "(was it started with --outage-hooks-file, and is it still running?)"
        ) from exc
    if reply != "ok":
        raise ServeControlError(reply.removeprefix("error: ") or "serve hung up without an answer")
