"""Helpers shared by the monitoring tests."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def write_history(
    folder: Path, drills: Sequence[tuple[float, float, float, bool]], host: str = "localhost"
) -> Path:
    """history.jsonl as the restore drill appends it: (days ago, RTO s, RPO s, passed) each."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    lines = []
    for index, (days_ago, rto, rpo, passed) in enumerate(drills):
        lines.append(
            json.dumps(
                {
                    "finished_at": (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "host": host,
                    "backup": f"backup_2026{index:04d}.pgc",
                    "rto_seconds": rto,
                    "rpo_seconds": rpo,
                    "counts": {"cards": 500, "purchases": 100, "artists": 50},
                    "passed": passed,
                    "failure": None if passed else {"check": "verify_data", "reason": "cards 0 < 1"},
                }
            )
        )
    path = folder / "history.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_backup(
    folder: Path, name: str = "backup_20261201_050001.pgc", age_hours: float = 1.0, good: bool = True
) -> Path:
    """A backup file with its sha256 beside it, `age_hours` old."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / name
    path.write_bytes(b"PGDMP" + bytes(range(256)) * 8)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if good else "0" * 64
    (folder / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    then = time.time() - age_hours * 3600
    import os

    os.utime(path, (then, then))
    return path
