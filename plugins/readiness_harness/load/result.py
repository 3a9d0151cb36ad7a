"""A load run's result file (`load.json`): what ran, its figures, the exactly-once check,
each criterion's check and the verdict. `readiness load` writes it; the Continuous
Improvement lines read it (the one they ran, or `--load-report PATH` from a bigger run)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from readiness_harness.load.figures import Check

RESULT_FILE = "load.json"
FORMAT = "readiness-load/1"


class LoadResultError(ValueError):
    """The file is not a `readiness load` result; the message says what is wrong."""


@dataclass(frozen=True)
class LoadResult:
    data: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.data["passed"])

    @property
    def target(self) -> str:
        return str(self.data["target"])

    @property
    def figures(self) -> dict[str, Any]:
        figures: dict[str, Any] = self.data["figures"]
        return figures

    @property
    def exactly_once(self) -> dict[str, Any]:
        held: dict[str, Any] = self.data["exactly_once"]
        return held

    @property
    def finished_at(self) -> datetime:
        return datetime.fromisoformat(self.data["finished_at"])

    def age_days(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.finished_at).total_seconds() / 86400

    def write(self, folder: Path) -> Path:
        path = folder / RESULT_FILE
        path.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
        return path


def build_result(
    *,
    target: str,
    mode: str,
    plan: dict[str, Any],
    started_at: datetime,
    figures: dict[str, Any],
    exactly_once: dict[str, Any],
    checks: list[Check],
    reports: dict[str, str],
    notes: list[str],
) -> LoadResult:
    return LoadResult(
        {
            "format": FORMAT,
            "target": target,
            "mode": mode,
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "plan": plan,
            "figures": figures,
            "exactly_once": exactly_once,
            "checks": [check.__dict__ for check in checks],
            "passed": all(check.passed for check in checks),
            "reports": reports,
            "notes": notes,
        }
    )


def read_result(path: Path) -> LoadResult:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LoadResultError(f"cannot read the load report {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise LoadResultError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise LoadResultError(f'{path} is not a `readiness load` result (no "format": "{FORMAT}")')
    missing = [
        key for key in ("target", "finished_at", "figures", "exactly_once", "checks") if key not in data
    ]
    if missing:
        raise LoadResultError(f"{path} lacks {', '.join(missing)}")
    return LoadResult(data)
