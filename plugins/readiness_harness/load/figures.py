"""A load run's figures and its verdict.

Latency percentiles and the request rate come from Locust's own statistics (its
`*_stats.csv`, aggregated over every worker by the master); success and server errors
come from the ledger, which holds the status of every delivery. The two counts must agree,
or the run's data is partial and the verdict fails.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from readiness_harness.load.ledger import Ledger

AGGREGATED = "Aggregated"


class LocustStatsError(RuntimeError):
    """Locust's statistics are missing or unreadable; the message says which file."""


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


@dataclass(frozen=True)
class LocustStats:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    by_name: dict[str, int]


def read_locust_stats(stats_csv: Path) -> LocustStats:
    if not stats_csv.is_file():
        raise LocustStatsError(f"Locust wrote no statistics at {stats_csv}")
    with stats_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    aggregated = [row for row in rows if row.get("Name") == AGGREGATED]
    if not aggregated:
        raise LocustStatsError(f"{stats_csv} has no {AGGREGATED} row")
    total = aggregated[0]
    return LocustStats(
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
        rps=_number(total["Requests/s"]),
        p50_ms=_number(total["50%"]),
        p95_ms=_number(total["95%"]),
        p99_ms=_number(total["99%"]),
        max_ms=_number(total["Max Response Time"]),
        by_name={row["Name"]: int(row["Request Count"]) for row in rows if row.get("Name") != AGGREGATED},
    )


@dataclass(frozen=True)
class LoadFigures:
    requests: int
    succeeded: int
    server_errors: int
    client_errors: int
    no_answer: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    payments: int
    stale: int
    locust_requests: int
    by_name: dict[str, int]

    @property
    def success_percent(self) -> float:
        return 100.0 * self.succeeded / self.requests if self.requests else 0.0

    @property
    def server_error_percent(self) -> float:
        return 100.0 * self.server_errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["success_percent"] = round(self.success_percent, 4)
        data["server_error_percent"] = round(self.server_error_percent, 4)
        return data


def figures(stats: LocustStats, ledger: Ledger) -> LoadFigures:
    statuses = ledger.statuses()
    return LoadFigures(
        requests=ledger.deliveries,
        succeeded=sum(count for status, count in statuses.items() if 200 <= status < 300),
        server_errors=sum(count for status, count in statuses.items() if status >= 500),
        client_errors=sum(count for status, count in statuses.items() if 400 <= status < 500),
        no_answer=statuses.get(0, 0),
        rps=stats.rps,
        p50_ms=stats.p50_ms,
        p95_ms=stats.p95_ms,
        p99_ms=stats.p99_ms,
        max_ms=stats.max_ms,
        payments=len(ledger.records),
        stale=ledger.stale,
        locust_requests=stats.requests,
        by_name=stats.by_name,
    )


@dataclass(frozen=True)
class Criteria:
    """What a load run must show: success over `success_over` %, p99 under `p99_under_s`."""

    success_over: float = 99.0
    p99_under_s: float = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def judge(
    result: LoadFigures, exactly_once_held: bool, exactly_once_detail: str, criteria: Criteria
) -> list[Check]:
    """The checks a run passes only all together."""
    p99_s = result.p99_ms / 1000
    return [
        Check(
            "complete data",
            result.requests > 0 and result.requests == result.locust_requests,
            f"{result.requests} deliveries in the ledger, {result.locust_requests} in Locust's statistics",
        ),
        Check(
            "success rate",
            result.requests > 0 and result.success_percent > criteria.success_over,
            f"{result.success_percent:.3f}% of {result.requests} deliveries answered 2xx "
            f"(must be over {criteria.success_over:g}%); {result.server_errors} 5xx, "
            f"{result.client_errors} 4xx, {result.no_answer} without an answer",
        ),
        Check(
            "p99 latency",
            not math.isnan(p99_s) and p99_s < criteria.p99_under_s,
            f"p99 {p99_s:.3f}s (must be under {criteria.p99_under_s:g}s), p50 {result.p50_ms / 1000:.3f}s",
        ),
        Check("exactly once", exactly_once_held, exactly_once_detail),
    ]
