"""Load benchmark: the service's capture throughput against PostgreSQL's own, in one run.

On one embedded PostgreSQL and one service (uvicorn, N workers), measured back to back:
  (a) pgbench running the SQL of one capture (`SELECT * FROM record_capture(...)`),
  (b) signed capture webhooks against the service at each concurrency (default 8, 32),
  then the ratio service/pgbench, p50/p99 latency, and a check that purchases equal the
  distinct payments sent and cards equal 5 x purchases;
  (c) storms: the same event delivered by 1000 connections at once, 10 times, printing
      purchases created per storm (must be 1) and non-2xx answers (must be 0);
  (d) a control: the same SQL from Python (asyncio + psycopg) with no HTTP at all, and
  (e) a control: the same SQL behind a bare ASGI app (bench/bare_capture_app.py) that
      verifies nothing, on the same workers and pool sizes as the service.
      (d) and (e) bound what any Python service reaches on this machine; "service / bare
      app" is the share of that floor the service's own code leaves (1.00 = free).
Figures are ratios against a baseline measured in the same run, because the machine is
shared and absolute numbers drift. This is a script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg

from cardpack_service.config import Settings
from controls import bare_app, direct_captures
from httpload import Request, build_request, run, storm
from readiness_harness.gateways.events import EventFactory, Payment, Signer
from readiness_harness.settings.secrets import load_secrets, redact_url
from readiness_harness.target.stack import embedded_stack

PGBENCH_SCRIPT = """\
\\set n random(1, 2000000000)
SELECT * FROM record_capture('pgbench', 'evt-' || :client_id || '-' || :n, 'payment.captured',
  'PGB-' || :client_id || '-' || :n, 'u' || :client_id, 'black', 500, 'usd');
"""


def pgbench_tps(bin_dir: Path, database_url: str, clients: int, seconds: int) -> float:
    parts = urlsplit(database_url)
    assert parts.hostname and parts.username, redact_url(database_url)
    user, host, port, database = parts.username, parts.hostname, str(parts.port or 5432), parts.path[1:]
    # The password goes through libpq's environment, never argv (every local user can read argv).
    env = {**os.environ, "PGPASSWORD": unquote(parts.password or "")}
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(PGBENCH_SCRIPT)
    try:
        result = subprocess.run(
            [
                str(bin_dir / "pgbench"),
                "-n",
                "-M",
                "prepared",
                "-c",
                str(clients),
                "-j",
                str(min(clients, 2)),
                "-T",
                str(seconds),
                "-f",
                script.name,
                "-h",
                host,
                "-p",
                port,
                "-U",
                user,
                database,
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    finally:
        os.unlink(script.name)
    tps = re.search(r"tps = ([\d.]+)", result.stdout)
    assert tps, result.stdout
    return float(tps.group(1))


def capture_events(count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` standard capture events, each for a new payment whose id starts with `prefix`."""
    events = EventFactory()
    return [
        events.capture(
            Payment(
                "standard",
                f"u{index % 1000}",
                "black",
                f"{prefix}{uuid.uuid4().hex[:16]}",
                f"evt_{uuid.uuid4().hex}",
                "-",
            )
        )
        for index in range(count)
    ]


def signed_requests(signer: Signer, url: str, events: list[dict[str, Any]]) -> list[Request]:
    requests = []
    for event in events:
        delivery = signer.sign("standard", event)
        requests.append(build_request(url, delivery.path, delivery.body, delivery.headers))
    return requests


def signed_captures(signer: Signer, url: str, count: int, prefix: str) -> tuple[list[Request], list[str]]:
    events = capture_events(count, prefix)
    return signed_requests(signer, url, events), [event["payment_id"] for event in events]


def verify(database_url: str, prefix: str, payment_ids: list[str]) -> tuple[int, int, bool]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT p.purchase_id), count(c.card_id) FROM purchases p"
            " LEFT JOIN cards c USING (purchase_id) WHERE p.payment_id LIKE %s",
            (prefix + "%",),
        ).fetchone()
    assert row is not None
    purchases, cards = int(row[0]), int(row[1])
    ok = purchases == len(set(payment_ids)) and cards == 5 * purchases
    return purchases, cards, ok


def measure_controls(
    database_url: str, clients: int, args: argparse.Namespace, pgbench: float
) -> tuple[dict[str, object], float, bool]:
    """(d) and (e): the same SQL without the service. Returns the figures, (e)'s
    throughput and whether every control's captures were recorded exactly once."""
    prefix = f"D{clients}X"
    events = capture_events(args.requests, prefix)
    direct = asyncio.run(direct_captures(database_url, events, clients))
    _, _, direct_ok = verify(database_url, prefix, [event["payment_id"] for event in events])
    print(
        f"(d) control, Python + psycopg, no HTTP: {direct:6.0f} captures/s, "
        f"ratio {direct / pgbench:.2f}{'' if direct_ok else ' (MISMATCH)'}"
    )
    prefix = f"E{clients}X"
    events = capture_events(args.requests, prefix)
    service = Settings()  # the pool sizes the service reads, from the same environment
    with bare_app(database_url, args.workers, service.db_pool_min_size, service.db_pool_max_size) as port:
        url = f"http://127.0.0.1:{port}"
        warm = capture_events(300, f"EW{clients}X")
        asyncio.run(run("127.0.0.1", port, plain_requests(url, warm), clients))
        bare = asyncio.run(run("127.0.0.1", port, plain_requests(url, events), clients))
    _, _, bare_ok = verify(database_url, prefix, [event["payment_id"] for event in events])
    bare_ok &= bare.non_2xx == 0
    print(
        f"(e) control, bare ASGI app, SQL only:   {bare.throughput:6.0f} captures/s, "
        f"ratio {bare.throughput / pgbench:.2f}, p50 / p99 {bare.percentile(0.5) * 1000:.2f} / "
        f"{bare.percentile(0.99) * 1000:.2f} ms{'' if bare_ok else ' (MISMATCH)'}"
    )
    figures: dict[str, object] = {
        "direct_python_tps": direct,
        "direct_python_ratio": direct / pgbench,
        "bare_app_rps": bare.throughput,
        "bare_app_ratio": bare.throughput / pgbench,
    }
    return figures, bare.throughput, direct_ok and bare_ok


def plain_requests(url: str, events: list[dict[str, Any]]) -> list[Request]:
    """Unsigned: the bare app verifies nothing."""
    headers = {"content-type": "application/json"}
    return [build_request(url, "/", json.dumps(event).encode(), headers) for event in events]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="pgbench duration per level")
    parser.add_argument(
        "--requests", type=int, default=6000, help="signed webhooks sent per concurrency level"
    )
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--storms", type=int, default=10)
    parser.add_argument("--storm-size", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--no-controls",
        dest="controls",
        action="store_false",
        help="skip (d) and (e), the controls that drive the same SQL without the service",
    )
    args = parser.parse_args()

    secrets = load_secrets()
    signer = Signer(secrets)
    figures: dict[str, object] = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    print(f"machine: {os.cpu_count()} cpus, load average {os.getloadavg()}", flush=True)
    all_ok = True
    with embedded_stack(secrets, workers=args.workers) as stack:
        assert stack.postgres is not None
        url, port = stack.service.url, stack.service.port
        print(f"service {url} ({args.workers} workers), PostgreSQL {stack.postgres.shown_url}")
        warmup, _ = signed_captures(signer, url, 500, "WARM")
        asyncio.run(run("127.0.0.1", port, warmup, 8))
        for clients in args.concurrency:
            tps = pgbench_tps(stack.postgres.bin_dir, stack.postgres.url, clients, args.seconds)
            prefix = f"B{clients}X"
            requests, payment_ids = signed_captures(signer, url, args.requests, prefix)
            result = asyncio.run(run("127.0.0.1", port, requests, clients))
            purchases, cards, ok = verify(stack.postgres.url, prefix, payment_ids)
            all_ok &= ok and result.non_2xx == 0
            p50, p99 = result.percentile(0.5) * 1000, result.percentile(0.99) * 1000
            ratio = result.throughput / tps
            print(f"\n== concurrency {clients} ==")
            print(f"(a) pgbench record_capture:   {tps:9.0f} captures/s")
            print(
                f"(b) signed webhooks:          {result.throughput:9.0f} captures/s "
                f"({len(result.statuses)} requests, {result.non_2xx} non-2xx)"
            )
            print(f"    ratio webhooks/pgbench:   {ratio:9.2f}")
            print(
                f"    latency p50 / p99:        {p50:6.2f} ms / {p99:6.2f} ms "
                f"(mean {statistics.fmean(result.latencies) * 1000:.2f} ms)"
            )
            print(
                f"    verify: purchases {purchases} = distinct payments {len(set(payment_ids))}, "
                f"cards {cards} = 5 x {purchases}: {'OK' if ok else 'MISMATCH'}"
            )
            level: dict[str, object] = {
                "pgbench_tps": tps,
                "webhook_rps": result.throughput,
                "ratio": ratio,
                "p50_ms": p50,
                "p99_ms": p99,
                "non_2xx": result.non_2xx,
                "verified": ok,
            }
            if args.controls:
                controls, bare_rps, controls_ok = measure_controls(stack.postgres.url, clients, args, tps)
                level.update(controls)
                all_ok &= controls_ok
                print(f"    service / bare app:       {result.throughput / bare_rps:9.2f}")
            figures[f"c{clients}"] = level
        print(f"\n== (c) {args.storms} storms of {args.storm_size} concurrent deliveries of one event ==")
        storms = []
        for number in range(1, args.storms + 1):
            requests, payment_ids = signed_captures(signer, url, 1, f"S{number}X")
            result = asyncio.run(storm("127.0.0.1", port, requests[0], args.storm_size))
            created = sum(1 for body in result.bodies if b'"status":"captured"' in body)
            purchases, cards, ok = verify(stack.postgres.url, f"S{number}X", payment_ids)
            all_ok &= ok and created == 1 and result.non_2xx == 0
            storms.append({"created": created, "purchases": purchases, "non_2xx": result.non_2xx})
            print(
                f"storm {number:2d}: purchases created {purchases} (answers 'captured': "
                f"{created}), cards {cards}, non-2xx {result.non_2xx}, "
                f"p99 {result.percentile(0.99) * 1000:.0f} ms",
                flush=True,
            )
        figures["storms"] = storms
    print(f"\nload average after: {os.getloadavg()}")
    print("RESULT: " + ("all deliveries verified" if all_ok else "VERIFICATION FAILED"))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
