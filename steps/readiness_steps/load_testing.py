"""Steps for the Continuous Improvement testing lines that read a `readiness load` result:
the one this run makes (small), or a bigger run's given with --load-report."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pytest_bdd import given, parsers, then

from readiness_harness.load.evidence import LoadEvidence
from readiness_harness.load.result import LoadResult
from readiness_harness.settings.secrets import redact_url
from readiness_harness.target.target import Target


@given(
    parsers.parse("a load test result for the target from the last {days:d} days"),
    target_fixture="load_result",
)
def _(
    load_evidence: LoadEvidence,
    readiness_target: Target,
    days: int,
    record_evidence: Callable[[str, Any], None],
) -> LoadResult:
    result = load_evidence.result()
    record_evidence(
        "load_test",
        {
            "source": load_evidence.source,
            "target": result.target,
            "mode": result.data.get("mode"),
            "finished_at": result.data["finished_at"],
            "figures": result.figures,
            "exactly_once": result.exactly_once,
            "reports": result.data.get("reports"),
        },
    )
    expected = redact_url(readiness_target.url)
    assert result.target == expected, (
        f"the load report ({load_evidence.source}) measured {result.target}, not this run's target "
        f"{expected}: run `readiness load --target-url {expected}` and give its load.json"
    )
    age = result.age_days()
    assert age <= days, f"the load report is {age:.1f} days old (at most {days}): run readiness load again"
    incomplete = [
        check
        for check in result.data["checks"]
        if check["name"] in ("complete data", "every worker's ledger")
    ]
    failed = [check["detail"] for check in incomplete if not check["passed"]]
    assert not failed, f"the load test's data is incomplete: {'; '.join(failed)}"
    return result


@then(parsers.parse("over {share:g}% of its deliveries succeeded"))
def _(load_result: LoadResult, share: float) -> None:
    figures = load_result.figures
    requests = int(figures["requests"])
    success = 100 * int(figures["succeeded"]) / requests if requests else 0.0
    assert requests > 0 and success > share, (
        f"{success:.3f}% of {requests} deliveries succeeded (over {share:g}% needed): "
        f"{figures['server_errors']} answered 5xx, {figures['client_errors']} 4xx, "
        f"{figures['no_answer']} got no answer"
    )


@then(parsers.parse("its 99th percentile latency was under {seconds:g} seconds"))
def _(load_result: LoadResult, seconds: float) -> None:
    p99_ms = float(load_result.figures["p99_ms"])
    assert not math.isnan(p99_ms) and p99_ms / 1000 < seconds, (
        f"p99 latency {p99_ms / 1000:.3f}s under load (under {seconds:g}s needed); "
        f"p50 {float(load_result.figures['p50_ms']) / 1000:.3f}s"
    )


@then("every payment it sent holds exactly one pack, none live after a refund")
def _(load_result: LoadResult) -> None:
    held = load_result.exactly_once
    assert held["held"], (
        f"exactly-once failed for {held['violations']} of {held['payments']} payments: "
        + "; ".join(held["first_violations"][:5])
    )
