"""`readiness drill`: take a backup and run the restore drill, on given or embedded servers."""

from __future__ import annotations

import argparse
import os

from readiness_harness.cli import interrupts


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "drill",
        help="take a backup and run the restore drill (embedded servers by default)",
        description="Take a backup with playbooks/backup.yml and run playbooks/restore_drill.yml "
        "on it. Uses DATABASE_URL, REDIS_URL, BACKUP_PATH and PG_BIN_DIR when set; otherwise "
        "starts embedded PostgreSQL and Redis (seeding demo data into an empty database) and "
        "keeps the backups in a private temporary folder. With --inventory, backs up and drills "
        "every database host of that Ansible inventory instead, in parallel. Exit 0 only when the "
        "drill passed (on every host); 130/143 when interrupted (what it started is stopped and "
        "removed). READINESS_ANSIBLE_ACCELERATOR=mitogen runs the playbooks with mitogen.",
    )
    parser.add_argument(
        "--inventory",
        default=os.environ.get("READINESS_INVENTORY") or None,
        metavar="FILE",
        help="Ansible inventory of a fleet: drill every host of its database_primary group "
        "[env READINESS_INVENTORY]",
    )
    parser.set_defaults(handler=drill)


def drill(args: argparse.Namespace) -> int:
    interrupts.install()
    try:
        return _drill_fleet(args.inventory) if args.inventory else _drill()
    except KeyboardInterrupt as error:
        return interrupts.report(
            "stopped the drill and the servers it started; removed its temporary folders", error
        )


def _drill() -> int:
    """Backup, then restore drill, against DATABASE_URL/REDIS_URL or embedded servers."""
    import contextlib
    import shutil

    from readiness_harness.drill.demo_data import seed_if_empty
    from readiness_harness.drill.playbooks import DrillError, run_playbook
    from readiness_harness.target.embedded import EmbeddedPostgres, EmbeddedRedis, pg_bin_dir_for_wheel
    from readiness_harness.target.stack import private_folder

    with contextlib.ExitStack() as stack:
        database_url = os.environ.get("DATABASE_URL") or None
        redis_url = os.environ.get("REDIS_URL") or None
        pg_bin_dir = os.environ.get("PG_BIN_DIR") or None
        if database_url is None:
            print("[drill] starting an embedded PostgreSQL", flush=True)
            postgres = EmbeddedPostgres()
            stack.callback(postgres.cleanup)
            postgres.start()
            database_url, pg_bin_dir = postgres.url, str(postgres.bin_dir)
        if redis_url is None:
            print("[drill] starting an embedded Redis", flush=True)
            redis_server = EmbeddedRedis()
            stack.callback(redis_server.cleanup)
            redis_server.start()
            redis_url = redis_server.url
        backup_path = os.environ.get("BACKUP_PATH") or str(private_folder("readiness-backups-"))
        if not os.environ.get("BACKUP_PATH"):
            stack.callback(shutil.rmtree, backup_path, ignore_errors=True)
        created = seed_if_empty(database_url)
        if created:
            print(f"[drill] the database was empty: seeded {created} demo purchases", flush=True)
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "BACKUP_PATH": backup_path,
            "PG_BIN_DIR": pg_bin_dir or str(pg_bin_dir_for_wheel()),
        }
        try:
            for step, playbook in enumerate(("backup", "restore_drill"), start=1):
                print(f"[drill] step {step}/2: ansible-playbook playbooks/{playbook}.yml", flush=True)
                run = run_playbook(playbook, env, quiet=False)
                if not run.ok:
                    print(
                        f"[drill] FAILED: playbooks/{playbook}.yml exited {run.rc}; the "
                        "messages above say which check failed and what to do",
                        flush=True,
                    )
                    return run.rc or 1
        except DrillError as exc:
            print(f"[drill] FAILED: {exc}", flush=True)
            return 2
        if run.report_path is not None:
            print(f"[drill] drill report: {run.report_path}", flush=True)
    return 0


def _drill_fleet(inventory: str) -> int:
    """Backup, then restore drill, on every database host of `inventory`."""
    from pathlib import Path

    from readiness_harness.drill.playbooks import DrillError, run_playbook

    path = Path(inventory).resolve()
    try:
        for step, playbook in enumerate(("backup", "restore_drill"), start=1):
            print(f"[drill] step {step}/2: ansible-playbook -i {path} playbooks/{playbook}.yml", flush=True)
            run = run_playbook(playbook, {}, quiet=False, inventory=path)
            if not run.ok:
                failed = sorted(host for host, count in run.stats.get("failures", {}).items() if count)
                print(
                    f"[drill] FAILED on {', '.join(failed) or 'some hosts'}: playbooks/{playbook}.yml exited "
                    f"{run.rc}; the messages above say which check failed on which host and what to do",
                    flush=True,
                )
                return run.rc or 1
    except DrillError as exc:
        print(f"[drill] FAILED: {exc}", flush=True)
        return 2
    summary = run.artifact_data.get("restore_drill_summary")
    if summary:
        print(f"[drill] drill summary: {summary}", flush=True)
    return 0
