"""The restore drill's history: one JSON object per drill and host in `history.jsonl`.

The drill appends, beside its reports (`<report_dir>/history.jsonl`):

    {"finished_at": "2026-11-30T05:03:12Z", "host": "db-1", "backup": "backup_...pgc",
     "rto_seconds": 41.2, "rpo_seconds": 3600.5, "counts": {"cards": 1234, ...},
     "passed": true, "failure": null}

Read here for the drill-history line and the weekly review: the success rate over a
window, and RTO week over week per host (growth beyond a set share is a warning).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class HistoryError(ValueError):
    """The history file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class DrillRecord:
    finished_at: datetime
    host: str
    backup: str | None
    rto_seconds: float | None
    rpo_seconds: float | None
    counts: dict[str, int] | None
    passed: bool
    failure: dict[str, Any] | None

    @property
    def week(self) -> str:
        year, week, _ = self.finished_at.isocalendar()
        return f"{year}-W{week:02d}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "finished_at": self.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": self.host,
            "backup": self.backup,
            "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds,
            "counts": self.counts,
            "passed": self.passed,
            "failure": self.failure,
        }


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_history(path: Path) -> list[DrillRecord]:
    """Every drill in the file, oldest first. A missing file is an empty history; a line
    that is not a drill record is an error naming its line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the drill history: {exc}") from exc
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            record = DrillRecord(
                finished_at=parse_time(str(entry["finished_at"])),
                host=str(entry.get("host") or "unknown"),
                backup=entry.get("backup"),
                rto_seconds=_number(entry.get("rto_seconds")),
                rpo_seconds=_number(entry.get("rpo_seconds")),
                counts=entry.get("counts") if isinstance(entry.get("counts"), dict) else None,
                passed=entry.get("passed") is True,
                failure=entry.get("failure") if isinstance(entry.get("failure"), dict) else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise HistoryError(f"{path}:{number}: not a drill record ({type(exc).__name__}: {exc})") from exc
        records.append(record)
    return sorted(records, key=lambda record: record.finished_at)


def since(records: Iterable[DrillRecord], start: datetime) -> list[DrillRecord]:
    return [record for record in records if record.finished_at >= start]


def success_rate(records: Sequence[DrillRecord]) -> float | None:
    """Passed drills over all drills (None when there are none)."""
    if not records:
        return None
    return sum(1 for record in records if record.passed) / len(records)


@dataclass(frozen=True)
class RtoTrend:
    """Median RTO of a host's passed drills in its latest week with drills, against the
    week with drills before it."""

    host: str
    week: str
    rto_seconds: float
    previous_week: str
    previous_rto_seconds: float

    @property
    def growth(self) -> float:
        if self.previous_rto_seconds <= 0:
            return 0.0
        return (self.rto_seconds - self.previous_rto_seconds) / self.previous_rto_seconds

    def warning(self, share: float) -> str | None:
        if self.growth <= share:
            return None
        return (
            f"{self.host}: restore time (RTO) grew {self.growth:.0%} week over week "
            f"({self.previous_week}: {self.previous_rto_seconds:.1f} s -> "
            f"{self.week}: {self.rto_seconds:.1f} s), "
            f"more than the {share:.0%} allowed: look at the database's growth and the restore's resources"
        )


def rto_trends(records: Sequence[DrillRecord]) -> list[RtoTrend]:
    trends = []
    for host in sorted({record.host for record in records}):
        weeks: dict[str, list[float]] = {}
        for record in records:
            if record.host == host and record.passed and record.rto_seconds is not None:
                weeks.setdefault(record.week, []).append(record.rto_seconds)
        ordered = sorted(weeks)
        if len(ordered) < 2:
            continue
        last, previous = ordered[-1], ordered[-2]
        trends.append(
            RtoTrend(host, last, statistics.median(weeks[last]), previous, statistics.median(weeks[previous]))
        )
    return trends
