"""How much the Ansible backup + restore drill costs over a bare pg_dump/pg_restore, on
one host and on a fleet over ssh, with and without the mitogen accelerator.

Starts an embedded PostgreSQL 18 and Redis, applies the service's schema, seeds cards,
purchases and artists straight through generate_series (bypassing the service's
functions), then times, in one run:

  bare      pg_dump -Fc, then pg_restore -j2 into a scratch database (dropped after)
  one host  playbooks/backup.yml, then playbooks/restore_drill.yml on this machine
            (ansible_connection local), plain Ansible and with mitogen
  fleet     the same two playbooks over ssh on a namespace fleet of 1, 3 and 5 database
            hosts (tests/fleet/fleet_kit.py, root only) seeded with --fleet-cards each,
            plain and with mitogen

and prints every wall time, the drill's overhead over the bare pair (what orchestration
costs), and each fleet's time as a multiple of the fleet of one. The drill does more than
the bare pair on purpose: it checksums the backup, reads its table of contents, takes a
safety snapshot (a second pg_dump), counts every table, pings Redis and checks a write.

    .venv/bin/python bench/drill_benchmark.py                   # 1M cards, 200k purchases
    .venv/bin/python bench/drill_benchmark.py --cards 100000 --purchases 20000 --artists 1000
    .venv/bin/python bench/drill_benchmark.py --fleet-sizes "" # no fleet (not root)

Everything (servers, dumps, reports, namespaces) lives in temporary places removed at the
end; nothing is written to the repository.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg
from psycopg import sql

from readiness_harness.drill.playbooks import ACCELERATORS, PlaybookRun, run_playbook
from readiness_harness.target.embedded import EmbeddedServers, embedded_servers

SCHEMA = Path(__file__).resolve().parents[1] / "reference_service" / "cardpack_service" / "schema.sql"
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Time a bare pg_dump -Fc + pg_restore -j2 against the backup.yml + "
            "restore_drill.yml playbooks on an embedded PostgreSQL 18 seeded with "
            "generated cards, purchases and artists, and print the ratio."
        ),
        epilog="Prints numbers; exits non-zero if a playbook fails.",
    )
    parser.add_argument("--cards", type=int, default=1_000_000, help="cards to seed (default 1,000,000)")
    parser.add_argument("--purchases", type=int, default=200_000, help="purchases to seed (default 200,000)")
    parser.add_argument(
        "--artists", type=int, default=10_000, help="artists in total, at least 50 (default 10,000)"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="parallel pg_restore jobs, bare and drill (default 2)"
    )
    parser.add_argument(
        "--fleet-sizes",
        default="1,3,5",
        help="database hosts of the namespace fleets to time, comma-separated ('' for none; default 1,3,5)",
    )
    parser.add_argument(
        "--fleet-cards", type=int, default=20_000, help="cards seeded on each fleet host (default 20,000)"
    )
    parser.add_argument(
        "--modes",
        default="none,mitogen",
        help="accelerators to time, comma-separated: none (plain Ansible), mitogen (default both)",
    )
    parser.add_argument("--verbose", action="store_true", help="stream the playbooks' output while they run")
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.cards < 1 or args.artists < 50 or args.jobs < 1:
        parser.error("--purchases and --cards must be >= 1, --artists >= 50, --jobs >= 1")
    try:
        args.fleet_sizes = [int(size) for size in args.fleet_sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--fleet-sizes must be whole numbers, got {args.fleet_sizes!r}")
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if any(mode not in ACCELERATORS for mode in args.modes) or not args.modes:
        parser.error(f"--modes must name some of {', '.join(ACCELERATORS)}")
    if any(size < 1 for size in args.fleet_sizes):
        parser.error("--fleet-sizes must be at least 1")
    return args


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def seed(url: str, cards: int, purchases: int, artists: int) -> None:
    """Bulk rows consistent by construction: every card points at a real purchase and
    artist. Foreign-key triggers are skipped during the load (replica role) for speed."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute("SET LOCAL synchronous_commit = off")
            conn.execute(
                "INSERT INTO artists (name) SELECT 'Bench artist ' || g "
                "FROM generate_series(1, %s - (SELECT count(*) FROM artists)) AS g",
                (artists,),
            )
            conn.execute(
                "INSERT INTO purchases (payment_id, gateway, user_id, pack_type, amount, "
                "currency, status, created_at) "
                "SELECT 'bench-' || g, 'stripe', 'user-' || (g %% 5000), 'black', 500, 'usd', "
                "'active', now() - make_interval(secs => %s - g) "
                "FROM generate_series(1, %s) AS g",
                (purchases, purchases),
            )
            conn.execute(
                "INSERT INTO cards (purchase_id, artist_id, user_id) "
                "SELECT p.first + g %% p.n, a.first + g %% a.n, 'user-' || (g %% 5000) "
                "FROM generate_series(0, %s - 1) AS g, "
                "(SELECT min(purchase_id) AS first, count(*) AS n FROM purchases) AS p, "
                "(SELECT min(artist_id) AS first, count(*) AS n FROM artists) AS a",
                (cards,),
            )
        conn.execute("ANALYZE")


def bare_dump_restore(servers: EmbeddedServers, work: Path, jobs: int) -> tuple[float, float, int]:
    postgres = servers.postgres
    archive = work / "bare.pgc"
    # The connection (password included) goes through libpq's environment, never argv.
    libpq_env = {**os.environ, **postgres.libpq_environment()}
    _, dump_s = timed(
        lambda: subprocess.run(
            [str(postgres.bin_dir / "pg_dump"), "-Fc", "-f", str(archive)],
            check=True,
            env=libpq_env,
        )
    )
    scratch = f"{postgres.database}_bench_scratch"
    with psycopg.connect(postgres.admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        _, restore_s = timed(
            lambda: subprocess.run(
                [
                    str(postgres.bin_dir / "pg_restore"),
                    f"-j{jobs}",
                    f"--dbname={scratch}",
                    str(archive),
                ],
                check=True,
                env=libpq_env,
            )
        )
    finally:
        with psycopg.connect(postgres.admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(scratch)))
    return dump_s, restore_s, archive.stat().st_size


def drill_pair(
    env: dict[str, str], extravars: dict[str, object], mode: str, quiet: bool, inventory: Path | None = None
) -> tuple[float, float, PlaybookRun]:
    """backup.yml then restore_drill.yml: their wall times and the drill's run."""
    backup, backup_s = timed(
        lambda: run_playbook("backup", env, extravars, quiet=quiet, inventory=inventory, accelerator=mode)
    )
    if not backup.ok:
        raise SystemExit(f"backup.yml failed ({mode}):\n{backup.stdout[-3000:]}")
    drill, drill_s = timed(
        lambda: run_playbook(
            "restore_drill", env, extravars, quiet=quiet, inventory=inventory, accelerator=mode
        )
    )
    if not drill.ok:
        raise SystemExit(f"restore_drill.yml failed ({mode}):\n{drill.stdout[-3000:]}")
    return backup_s, drill_s, drill


def fleet_runs(args: argparse.Namespace, work: Path) -> dict[tuple[int, str], float]:
    """Backup + drill wall time on namespace fleets of each size, in each mode."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fleet"))
    from fleet_kit import namespace_fleet, why_unavailable

    reason = why_unavailable()
    if reason:
        print(f"fleet: skipped ({reason})")
        return {}
    results: dict[tuple[int, str], float] = {}
    for size in args.fleet_sizes:
        databases = {f"db{index}": 1 for index in range(1, size + 1)}
        with namespace_fleet(databases) as fleet:
            for host in fleet.databases:
                with psycopg.connect(host.database_url, autocommit=True) as conn:
                    conn.execute("TRUNCATE cards, purchases RESTART IDENTITY CASCADE")
                seed_existing(host.database_url, args.fleet_cards, max(args.fleet_cards // 5, 1))
            for mode in args.modes:
                reports = work / f"fleet-{size}-{mode}"
                backup_s, drill_s, _ = drill_pair(
                    {}, {"readiness_drill_report_dir": str(reports)}, mode, not args.verbose, fleet.inventory
                )
                results[(size, mode)] = backup_s + drill_s
                print(
                    f"fleet of {size} over ssh, {mode:<8} backup {backup_s:7.2f} s  drill {drill_s:7.2f} s"
                    f"  total {backup_s + drill_s:7.2f} s"
                )
    return results


def seed_existing(url: str, cards: int, purchases: int) -> None:
    """Bulk purchases and cards into a database that already has the schema."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "INSERT INTO purchases (payment_id, gateway, user_id, pack_type, amount, currency, status, "
            "created_at) "
            "SELECT 'bench-' || g, 'stripe', 'user-' || (g %% 5000), 'black', 500, 'usd', 'active', now() "
            "FROM generate_series(1, %s) AS g",
            (purchases,),
        )
        conn.execute(
            "INSERT INTO cards (purchase_id, artist_id, user_id) "
            "SELECT p.first + g %% p.n, a.first + g %% a.n, 'user-' || (g %% 5000) "
            "FROM generate_series(0, %s - 1) AS g, "
            "(SELECT min(purchase_id) AS first, count(*) AS n FROM purchases) AS p, "
            "(SELECT min(artist_id) AS first, count(*) AS n FROM artists) AS a",
            (cards,),
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="readiness-bench-") as tmp, embedded_servers() as servers:
        work = Path(tmp)
        _, seed_s = timed(lambda: seed(servers.postgres.url, args.cards, args.purchases, args.artists))
        with psycopg.connect(servers.postgres.url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        db_mb = (row[0] if row else 0) / 1e6
        print(
            f"seeded {args.cards:,} cards, {args.purchases:,} purchases, {args.artists:,} artists "
            f"in {seed_s:.1f} s (database {db_mb:.0f} MB)"
        )

        dump_s, restore_s, archive_bytes = bare_dump_restore(servers, work, args.jobs)
        bare_s = dump_s + restore_s
        print(f"bare pg_dump -Fc              {dump_s:8.2f} s   (archive {archive_bytes / 1e6:.1f} MB)")
        print(f"bare pg_restore -j{args.jobs}            {restore_s:8.2f} s")
        print(f"bare total                    {bare_s:8.2f} s")

        env = {
            "DATABASE_URL": servers.postgres.url,
            "REDIS_URL": servers.redis.url,
            "BACKUP_PATH": str(work / "backups"),
            "PG_BIN_DIR": str(servers.postgres.bin_dir),
            "DRILL_REPORT_PATH": str(work / "reports"),
        }
        extravars: dict[str, object] = {"restore_drill_restore_jobs": args.jobs}
        one_host: dict[str, float] = {}
        for mode in args.modes:
            backup_s, drill_s, drill = drill_pair(env, extravars, mode, not args.verbose)
            report = drill.report or {}
            one_host[mode] = backup_s + drill_s
            print(
                f"one host (local), {mode:<8} backup {backup_s:7.2f} s  drill {drill_s:7.2f} s  "
                f"total {backup_s + drill_s:7.2f} s  (restore_seconds {report.get('restore_seconds')}, "
                f"cards {report.get('counts', {}).get('cards', 0):,})"
            )
        fleets = fleet_runs(args, work) if args.fleet_sizes else {}

        print()
        print("summary (same run, same machine)")
        print(f"  bare dump + restore                    {bare_s:8.2f} s")
        for mode, total in one_host.items():
            # The drill dumps twice (backup and safety snapshot) and restores once: subtract
            # the bare pair once and the bare dump once more to leave what orchestration costs.
            overhead = total - bare_s - dump_s
            print(
                f"  one host, {mode:<8} backup + drill       {total:8.2f} s  = {total / bare_s:5.2f} x bare,"
                f" orchestration overhead {overhead:6.2f} s"
            )
        for mode in args.modes:
            base = fleets.get((1, mode))
            for size in args.fleet_sizes:
                if (size, mode) in fleets and base:
                    total = fleets[(size, mode)]
                    print(
                        f"  fleet of {size}, {mode:<8}                 {total:8.2f} s  = "
                        f"{total / base:5.2f} x fleet of 1"
                    )
        if "none" in one_host and "mitogen" in one_host:
            print(f"  mitogen / plain, one host              {one_host['mitogen'] / one_host['none']:8.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
