"""How much the Ansible backup + restore drill costs over a bare pg_dump/pg_restore.

Starts an embedded PostgreSQL 18 and Redis, applies the service's schema, seeds cards,
purchases and artists straight through generate_series (bypassing the service's
functions), then times, in one run:

  bare      pg_dump -Fc, then pg_restore -j2 into a scratch database (dropped after)
  playbooks playbooks/backup.yml, then playbooks/restore_drill.yml

and prints both wall times and their ratio. The drill does more than the bare pair on
purpose: it checksums the backup, reads its table of contents, takes a safety snapshot
(a second pg_dump), counts, pings Redis and checks a write, so expect a ratio above 2.

    .venv/bin/python bench/drill_benchmark.py                   # 1M cards, 200k purchases
    .venv/bin/python bench/drill_benchmark.py --cards 100000 --purchases 20000 --artists 1000

Everything (servers, dumps, reports) lives in temporary directories that are removed at
the end; nothing is written to the repository.
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

from readiness_harness.drill.playbooks import run_playbook
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
    parser.add_argument("--verbose", action="store_true", help="stream the playbooks' output while they run")
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.cards < 1 or args.artists < 50 or args.jobs < 1:
        parser.error("--purchases and --cards must be >= 1, --artists >= 50, --jobs >= 1")
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
        quiet = not args.verbose
        backup, backup_s = timed(lambda: run_playbook("backup", env, quiet=quiet))
        if not backup.ok:
            print(backup.stdout, file=sys.stderr)
            return 1
        print(f"playbook backup.yml           {backup_s:8.2f} s")
        extravars = {"restore_drill_restore_jobs": args.jobs}
        drill, drill_s = timed(lambda: run_playbook("restore_drill", env, extravars=extravars, quiet=quiet))
        if not drill.ok or drill.report is None:
            print(drill.stdout, file=sys.stderr)
            return 1
        report = drill.report
        print(
            f"playbook restore_drill.yml    {drill_s:8.2f} s   (report: restore_seconds "
            f"{report['restore_seconds']}, rpo_seconds {report['rpo_seconds']}, "
            f"cards {report['counts']['cards']:,})"
        )
        playbooks_s = backup_s + drill_s
        print(f"playbooks total               {playbooks_s:8.2f} s")
        print(f"ratio playbooks / bare        {playbooks_s / bare_s:8.2f} x")
        restore_ratio = report["restore_seconds"] / restore_s
        print(f"ratio drill restore / bare restore {restore_ratio:5.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
