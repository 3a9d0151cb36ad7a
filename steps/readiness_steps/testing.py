"""Steps for lines that judge other lines of the same run (tagged @after_suites, so they
run last) and for the fuzz run of the security-testing line."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pytest_bdd import parsers, then, when

from readiness_harness.checklist.outcomes import NOT_APPLICABLE, NOT_MEASURED, VERIFIED, not_measured
from readiness_harness.checklist.recorder import ChecklistLine
from readiness_harness.gateways.fuzz import FuzzRun, fuzz
from readiness_harness.target.target import Target


@then(parsers.re(r'every line of the (?P<areas>".+") areas? passed in this run'))
def _(areas: str, checklist_so_far: list[ChecklistLine], record_evidence: Callable[[str, Any], None]) -> None:
    """Judged like any line: from the applicable examples; a line not measured in this run
    leaves this one not measured, a failed one fails it."""
    titles = re.findall(r'"([^"]+)"', areas)
    known = {line.area for line in checklist_so_far}
    unknown = [title for title in titles if title not in known]
    assert not unknown, f"no area titled {unknown} in this run's checklist (areas: {sorted(known)})"
    lines = [line for line in checklist_so_far if line.area in titles and not _judges_others(line)]
    record_evidence("lines", {line.scenario: f"{line.state} ({line.summary})" for line in lines})
    failed = [line for line in lines if line.state not in (VERIFIED, NOT_APPLICABLE, NOT_MEASURED)]
    assert not failed, f"{len(failed)} line(s) of {', '.join(titles)} failed: " + "; ".join(
        f"{line.scenario} ({line.messages[0] if line.messages else line.state})" for line in failed
    )
    unmeasured = [line.scenario for line in lines if line.state == NOT_MEASURED]
    if unmeasured:
        not_measured(f"these lines were not measured in this run: {'; '.join(unmeasured)}")


def _judges_others(line: ChecklistLine) -> bool:
    return "after_suites" in line.tags


@when(
    parsers.parse(
        "every route of the target's published API is fuzzed with {count:d} generated requests, "
        "webhooks signed"
    ),
    target_fixture="fuzz_run",
)
def _(
    readiness_target: Target,
    published_openapi: dict[str, Any],
    count: int,
    record_evidence: Callable[[str, Any], None],
) -> FuzzRun:
    run = fuzz(readiness_target, published_openapi, count)
    record_evidence("fuzz", run.to_dict())
    return run


@then("no fuzzed request got a server error")
def _(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.cases > 0, "the fuzzer generated no request: the API document lists no operation"
    assert not fuzz_run.server_errors, (
        f"{len(fuzz_run.server_errors)} of {fuzz_run.cases} fuzzed requests got a server error or no answer: "
        + "; ".join(fuzz_run.server_errors[:3])
    )
