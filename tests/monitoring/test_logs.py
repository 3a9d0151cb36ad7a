"""Finding a delivery's log entry by its event id: in a JSON-lines file, and in Loki's
query API (Debian has no Grafana Loki, so a stand-in that answers query_range as Loki
does, on loopback, plays it here)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from readiness_harness.monitoring.logs import FileLogs, LokiLogs, find_delivery, missing_fields


def _line(event_id: str, **extra: Any) -> str:
    entry = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "message": "webhook delivery",
        "instance": "web-1:4242",
        "event_id": event_id,
        "gateway": "stripe",
        "type": "payment.captured",
        "outcome": "accepted",
        "status": 200,
        "latency_ms": 3.1,
        **extra,
    }
    return json.dumps(entry)


def test_a_delivery_is_found_in_the_log_file_by_its_event_id(tmp_path: Path) -> None:
    log = tmp_path / "service.jsonl"
    log.write_text("not json\n" + _line("evt_1") + "\n" + _line("evt_2", latency_ms=None) + "\n")
    logs = FileLogs(log)
    [entry] = find_delivery(logs, "evt_1", time.time() - 60, timeout=0)
    assert missing_fields(entry) == []
    [partial] = find_delivery(logs, "evt_2", time.time() - 60, timeout=0)
    assert missing_fields(partial) == ["latency_ms"]
    assert find_delivery(logs, "evt_missing", time.time() - 60, timeout=0) == []


class _Loki:
    """Loki's /loki/api/v1/query_range over lines held in memory, with `|= "text"` filters."""

    def __init__(self, lines: list[str]) -> None:
        self.queries: list[dict[str, list[str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = parse_qs(parts.query)
                owner.queries.append(params)
                if parts.path != "/loki/api/v1/query_range" or self.headers.get("Authorization") is None:
                    self.send_response(401 if parts.path == "/loki/api/v1/query_range" else 404)
                    self.end_headers()
                    return
                query = params["query"][0]
                wanted = json.loads(query.split("|=", 1)[1]) if "|=" in query else None
                values = [[str(time.time_ns()), line] for line in lines if wanted is None or wanted in line]
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {
                            "resultType": "streams",
                            "result": [{"stream": {"job": "cardpack"}, "values": values}],
                        },
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://loki:pw-for-test@127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loki() -> Iterator[_Loki]:
    server = _Loki([_line("evt_A"), _line("evt_B")])
    yield server
    server.close()


def test_a_delivery_is_found_in_loki_by_its_event_id(loki: _Loki) -> None:
    logs = LokiLogs(loki.url, '{job="cardpack"}')
    try:
        [entry] = find_delivery(logs, "evt_B", time.time() - 60, timeout=0)
    finally:
        logs.close()
    assert entry["event_id"] == "evt_B"
    query = loki.queries[-1]["query"][0]
    assert query == '{job="cardpack"} |= "evt_B"'
    assert "pw-for-test" not in logs.where, "credentials never shown"
