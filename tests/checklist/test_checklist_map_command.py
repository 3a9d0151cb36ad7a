"""`readiness map`: each line of the user's checklist with the state of its scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from readiness_harness.checklist.source import MapRow, Selector, row_state, row_states

READINESS = str(Path(sys.executable).with_name("readiness"))


Examples = list[tuple[dict[str, str], str]]


def _line(tag: str, state: str, examples: Examples | None = None) -> dict[str, object]:
    rows = [{"params": params, "state": example_state} for params, example_state in (examples or [])]
    return {"tags": [tag, "prelaunch"], "state": state, "examples": rows}


def _gateways(stripe: str, paypal: str) -> Examples:
    return [
        ({"gateway": "stripe"}, stripe),
        ({"gateway": "paypal"}, paypal),
        ({"gateway": "standard"}, "verified"),
    ]


LINES = [
    _line("tls_certificate", "verified"),
    _line("code_review", "attested"),
    _line("gateway_secrets", "failed", _gateways("verified", "failed")),
    _line("endpoints_reachable", "verified", _gateways("verified", "verified")),
    _line("security_scan", "not measured"),
]


def _row(*selectors: Selector) -> MapRow:
    return MapRow("s", "t", selectors, "", 1)


def test_a_line_is_verified_only_when_everything_that_carries_it_is() -> None:
    assert row_state(row_states(_row(Selector("tls_certificate", None)), LINES)) == "verified"
    both = _row(Selector("tls_certificate", None), Selector("security_scan", None))
    assert row_state(row_states(both, LINES)) == "not measured"
    assert row_state(row_states(_row(Selector("code_review", None)), LINES)) == "attested"
    assert row_state(row_states(_row(Selector("no_such_line", None)), LINES)) == "absent"


def test_an_example_selector_reads_only_its_example() -> None:
    stripe = _row(Selector("gateway_secrets", {"gateway": "stripe"}))
    paypal = _row(Selector("gateway_secrets", {"gateway": "paypal"}))
    assert row_state(row_states(stripe, LINES)) == "verified"
    assert row_state(row_states(paypal, LINES)) == "failed"


def test_readiness_map_prints_every_line_and_the_counts(tmp_path: Path) -> None:
    path = tmp_path / "readiness.json"
    path.write_text(json.dumps({"target": "https://staging.example.test", "partial": False, "lines": LINES}))
    result = subprocess.run(
        [READINESS, "map", "--readiness-json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[PASS] SSL certificates installed  (@tls_certificate)" in result.stdout
    assert "[PASS] Stripe webhook configured" in result.stdout
    assert "[FAIL] PayPal webhook configured (if used)" in result.stdout
    assert "[NOT IN RUN] Redis cluster operational  (@redis_replication)" in result.stdout
    assert "81 lines in the checklist, 81 mapped to scenarios, 3 verified or attested" in result.stdout


def test_readiness_map_without_a_run_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [READINESS, "map", "--readiness-json", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2 and "none.json" in result.stderr
