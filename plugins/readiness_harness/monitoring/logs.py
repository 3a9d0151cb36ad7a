"""Aggregated logs: where one delivery's log line can be found by its event id.

The service writes one JSON line per delivery (event_id, gateway, type, outcome, status,
latency_ms, instance; never a secret or signature). On the embedded default the
aggregated logs are the service's LOG_FILE; a deployment gives Loki's query API
(`--loki-url`, with `--loki-selector` naming its streams). Both answer the same two
questions: which entries carry this event id, and which entries arrived in a window.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from readiness_harness.monitoring.prometheus import split_credentials
from readiness_harness.settings.secrets import redact_url

DELIVERY_FIELDS = ("event_id", "gateway", "type", "outcome", "status", "latency_ms", "instance")
"""What every delivery's log line must carry."""
TIMEOUT_S = 15.0
LOKI_LIMIT = 5000


class LogsError(RuntimeError):
    """The logs could not be read; the message says where and why."""


class LogSource(Protocol):
    @property
    def where(self) -> str: ...

    def entries(
        self, since: float, until: float | None = None, contains: str | None = None
    ) -> list[dict[str, Any]]:
        """JSON log entries from `since` (Unix time) on, optionally only lines containing a string."""
        ...


def _parse(lines: Iterable[str]) -> list[dict[str, Any]]:
    entries = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def _time_of(entry: dict[str, Any]) -> float | None:
    from datetime import datetime

    stamp = entry.get("ts") or entry.get("time") or entry.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class FileLogs:
    """A JSON-lines log file (the service's LOG_FILE)."""

    path: Path

    @property
    def where(self) -> str:
        return f"the log file {self.path}"

    def text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise LogsError(f"cannot read {self.path}: {exc}") from exc

    def entries(
        self, since: float, until: float | None = None, contains: str | None = None
    ) -> list[dict[str, Any]]:
        lines = self.text().splitlines()
        if contains is not None:
            lines = [line for line in lines if contains in line]
        found = []
        for entry in _parse(lines):
            at = _time_of(entry)
            if at is not None and (at < since or (until is not None and at > until)):
                continue
            found.append(entry)
        return found


class LokiLogs:
    """Grafana Loki's query API (`/loki/api/v1/query_range`)."""

    def __init__(self, url: str, selector: str, timeout: float = TIMEOUT_S) -> None:
        base, auth = split_credentials(url)
        self.url = base
        self.selector = selector
        self.shown_url = redact_url(url)
        self._client = httpx.Client(base_url=base, auth=auth, timeout=timeout)

    @property
    def where(self) -> str:
        return f"Loki at {self.shown_url} ({self.selector})"

    def close(self) -> None:
        self._client.close()

    def entries(
        self, since: float, until: float | None = None, contains: str | None = None
    ) -> list[dict[str, Any]]:
        query = self.selector if contains is None else f"{self.selector} |= {json.dumps(contains)}"
        params = {
            "query": query,
            "start": str(int(since * 1e9)),
            "end": str(int((until or time.time() + 1) * 1e9)),
            "limit": str(LOKI_LIMIT),
            "direction": "forward",
        }
        try:
            response = self._client.get("/loki/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise LogsError(f"{self.where} did not answer: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise LogsError(f"{self.where} answered HTTP {response.status_code}: {response.text[:300]!r}")
        try:
            data = response.json()["data"]
        except (ValueError, KeyError) as exc:
            raise LogsError(f"{self.where} did not answer with Loki's query_range format") from exc
        lines = [value[1] for stream in data.get("result", []) for value in stream.get("values", [])]
        return _parse(lines)


def find_delivery(logs: LogSource, event_id: str, since: float, timeout: float) -> list[dict[str, Any]]:
    """The log entries of the delivery with `event_id`, waiting up to `timeout` for the
    logs to catch up (shippers batch)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [
            entry for entry in logs.entries(since - 5, contains=event_id) if entry.get("event_id") == event_id
        ]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.25)


def missing_fields(entry: dict[str, Any]) -> list[str]:
    return [name for name in DELIVERY_FIELDS if entry.get(name) in (None, "")]
