"""Judge alerting rules with promtool, by what they do rather than how they are written.

Two judgements:

* `probe_threshold`: does the rule fire just above the checklist's threshold and stay
  quiet (not even pending) just below it, once its `for:` has passed? The probe feeds
  the checklist's own metrics (the reference contract's names: webhook_deliveries_total,
  webhook_latency_seconds, dependency_errors_total, unhandled_errors_total,
  restore_drill_last_run_passed) to promtool with the rule, so a rule written any way
  at all (bucket shares or histogram_quantile, rate or increase) is judged the same.
* `unit_test_cases`: in the target's own promtool tests, which cases make each alert
  fire, and which keep it quiet *past its `for:`*. A case that expects no alert while
  the condition holds but the alert is still pending says nothing about the threshold;
  each quiet case is re-run with `ALERTS{alertname=...}` (pending or firing) expected
  empty, and only those that pass count.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from readiness_harness.monitoring import promtool
from readiness_harness.monitoring.rules import AlertRule, RulesError, RuleSet, parse_duration, write_rule_file

Side = Literal["above", "below"]
Series = dict[str, str]

PROBE_LABELS = 'job="cardpack",instance="probe:8000"'
MARKER = "readiness_case"
"""A label no series carries: `{readiness_case!="x"}` matches everything and names the case
in promtool's failure output."""


class ThresholdError(ValueError):
    """A threshold the probes cannot read; the message says which forms they accept."""


def parse_threshold(text: str) -> float:
    """'1%' -> 0.01, '10 s' -> 10.0, '1 error' / '1 failed drill' -> 1.0."""
    value = text.strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(%|s|seconds?|errors?|failed drills?)", value)
    if not match:
        raise ThresholdError(
            f"cannot read the threshold {text!r}: write a share ('1%'), a time ('10 s') or a "
            "count ('1 error', '1 failed drill')"
        )
    number = float(match.group(1))
    return number / 100 if match.group(2) == "%" else number


def _label(value: float) -> str:
    """A bucket bound as prometheus_client writes it ('10.0', '9.5')."""
    return repr(float(value))


def _failure_share(threshold: float, side: Side, minutes: int) -> list[Series]:
    total = 10_000
    share = threshold * (1.1 if side == "above" else 0.9)
    errors = math.ceil(share * total) if side == "above" else math.floor(share * total)
    base = f'{PROBE_LABELS},gateway="stripe",type="payment.captured"'
    return [
        {
            "series": f'webhook_deliveries_total{{{base},outcome="accepted"}}',
            "values": f"0+{total - errors}x{minutes}",
        },
        {"series": f'webhook_deliveries_total{{{base},outcome="error"}}', "values": f"0+{errors}x{minutes}"},
    ]


def _p99_latency(threshold: float, side: Side, minutes: int) -> list[Series]:
    """1000 deliveries a minute: just below, all of them in (0.95 t, t] (p99 = 0.9995 t);
    just above, 2% in (t, 1.1 t] (p99 = 1.05 t)."""
    total, slow = 1000, (20 if side == "above" else 0)
    cumulative = {
        0.5 * threshold: 0,
        0.95 * threshold: 0,
        threshold: total - slow,
        1.1 * threshold: total,
    }
    base = f'{PROBE_LABELS},gateway="stripe"'
    series = [
        {
            "series": f'webhook_latency_seconds_bucket{{{base},le="{_label(bound)}"}}',
            "values": f"0+{count}x{minutes}",
        }
        for bound, count in cumulative.items()
    ]
    series.append(
        {"series": f'webhook_latency_seconds_bucket{{{base},le="+Inf"}}', "values": f"0+{total}x{minutes}"}
    )
    series.append({"series": f"webhook_latency_seconds_count{{{base}}}", "values": f"0+{total}x{minutes}"})
    observed = (total - slow) * 0.975 * threshold + slow * 1.05 * threshold
    series.append({"series": f"webhook_latency_seconds_sum{{{base}}}", "values": f"0+{observed:g}x{minutes}"})
    return series


def _counter(metric: str, labels: str) -> Callable[[float, Side, int], list[Series]]:
    def build(threshold: float, side: Side, minutes: int) -> list[Series]:
        per_minute = threshold if side == "above" else 0
        return [{"series": f"{metric}{{{PROBE_LABELS},{labels}}}", "values": f"0+{per_minute:g}x{minutes}"}]

    return build


def _drill_result(threshold: float, side: Side, minutes: int) -> list[Series]:
    passed = 0 if side == "above" else 1
    host = 'host="db-1"'
    return [
        {
            "series": f"restore_drill_last_run_passed{{{PROBE_LABELS},{host}}}",
            "values": f"{passed}x{minutes}",
        },
        {
            "series": f"restore_drill_last_success_timestamp_seconds{{{PROBE_LABELS},{host}}}",
            "values": f"0x{minutes}",
        },
        {"series": f"restore_drill_last_rto_seconds{{{PROBE_LABELS},{host}}}", "values": f"30x{minutes}"},
        {"series": f"restore_drill_last_rpo_seconds{{{PROBE_LABELS},{host}}}", "values": f"60x{minutes}"},
    ]


MEASURES: dict[str, Callable[[float, Side, int], list[Series]]] = {
    "failure share": _failure_share,
    "p99 latency": _p99_latency,
    "database errors": _counter("dependency_errors_total", 'dependency="database"'),
    "redis errors": _counter("dependency_errors_total", 'dependency="redis"'),
    "unhandled errors": _counter("unhandled_errors_total", 'route="standard"'),
    "drill result": _drill_result,
}
"""What each measure of the feature's table feeds the rule, just above or below a threshold."""

PROBE_MARGIN_S = 1800.0
"""Probes are evaluated this long after the rule's `for:` so its range windows are full."""


@dataclass(frozen=True)
class ThresholdProbe:
    """What promtool said about one rule just above and just below a threshold."""

    alert: str
    measure: str
    threshold: str
    eval_time_s: float
    fires_above: bool
    quiet_below: bool
    output: str
    test_document: dict[str, Any] = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.fires_above and self.quiet_below

    def evidence(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "measure": self.measure,
            "threshold": self.threshold,
            "evaluated_at": f"{self.eval_time_s / 60:g}m after the series start (past its for:)",
            "fires_just_above": self.fires_above,
            "quiet_just_below": self.quiet_below,
            "promtool": self.output.strip()[-2000:],
        }


def _rule_files(rules: RuleSet, rule: AlertRule, folder: Path) -> list[str]:
    if rules.rule_files:
        return [str(path.resolve()) for path in rules.rule_files]
    return [str(write_rule_file(rules.rules, folder / "rules_from_prometheus.yml"))]


def probe_threshold(rules: RuleSet, alert: str, measure: str, threshold: str) -> ThresholdProbe:
    """Run `alert` under promtool on the measure's series just above and just below
    `threshold`, evaluated past its `for:`."""
    rule = rules.get(alert)
    if rule is None:
        raise RulesError(f"no alerting rule {alert!r} in {rules.source}")
    build = MEASURES.get(measure)
    if build is None:
        raise ThresholdError(f"unknown measure {measure!r}; known: {', '.join(MEASURES)}")
    value = parse_threshold(threshold)
    eval_minutes = math.ceil((rule.hold_s + PROBE_MARGIN_S) / 60)
    minutes = eval_minutes + 10
    selector = f'alertname="{alert}"'
    document: dict[str, Any] = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": f"{alert} just above {threshold}",
                "interval": "1m",
                "input_series": build(value, "above", minutes),
                "promql_expr_test": [
                    {
                        "expr": f'count(ALERTS{{{selector},alertstate="firing",{MARKER}!="above"}}) > bool 0',
                        "eval_time": f"{eval_minutes}m",
                        "exp_samples": [{"labels": "{}", "value": 1}],
                    }
                ],
            },
            {
                "name": f"{alert} just below {threshold}",
                "interval": "1m",
                "input_series": build(value, "below", minutes),
                "promql_expr_test": [
                    {
                        "expr": f'count(ALERTS{{{selector},{MARKER}!="below"}})',
                        "eval_time": f"{eval_minutes}m",
                        "exp_samples": [],
                    }
                ],
            },
        ],
    }
    with tempfile.TemporaryDirectory(prefix="readiness-probe-") as folder:
        document["rule_files"] = _rule_files(rules, rule, Path(folder))
        test_file = Path(folder) / "threshold_probe.yml"
        test_file.write_text(yaml.safe_dump(document, sort_keys=False))
        result = promtool.test_rules(test_file)
    output = result.stdout + result.stderr
    if (
        result.returncode != 0
        and f'{MARKER}!=\\"above\\"' not in output
        and f'{MARKER}!=\\"below\\"' not in output
    ):
        raise RulesError(f"promtool could not run the threshold probe of {alert}:\n{output.strip()[-2000:]}")
    return ThresholdProbe(
        alert=alert,
        measure=measure,
        threshold=threshold,
        eval_time_s=eval_minutes * 60.0,
        fires_above=f'{MARKER}!=\\"above\\"' not in output,
        quiet_below=f'{MARKER}!=\\"below\\"' not in output,
        output=output,
        test_document=document,
    )


@dataclass(frozen=True)
class UnitCase:
    """One `alert_rule_test` case of a promtool test file."""

    file: Path
    group: str
    alert: str
    eval_time_s: float
    fires: bool
    quiet_past_hold: bool | None = None
    """For a quiet case: True when the alert is neither firing nor pending at its time and
    that time is past the rule's `for:`; None for firing cases."""
    why_not: str = ""

    def shown(self) -> str:
        return f"{self.file.name}: {self.group!r} at {self.eval_time_s / 60:g}m"


def _cases(test_file: Path) -> tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, Any]]]]:
    document = yaml.safe_load(test_file.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict) or not isinstance(document.get("tests"), list):
        raise RulesError(f"{test_file}: not a promtool test file (no `tests:` list)")
    pairs = []
    for group in document["tests"]:
        for case in group.get("alert_rule_test") or []:
            pairs.append((group, case))
    return document, pairs


def unit_test_cases(test_files: Sequence[Path], rules: RuleSet) -> list[UnitCase]:
    """Every alert case of the test files; quiet cases re-run to see that the alert is
    not pending at their time either, and that their time is past the rule's `for:`."""
    found: list[UnitCase] = []
    for test_file in test_files:
        document, pairs = _cases(test_file)
        derived_groups = []
        quiet: list[tuple[int, UnitCase]] = []
        for index, (group, case) in enumerate(pairs):
            alert = str(case.get("alertname"))
            unit = UnitCase(
                test_file,
                str(group.get("name", f"group {index}")),
                alert,
                parse_duration(case.get("eval_time")),
                bool(case.get("exp_alerts")),
            )
            if unit.fires:
                found.append(unit)
                continue
            quiet.append((index, unit))
            derived = {
                key: value
                for key, value in group.items()
                if key not in ("alert_rule_test", "promql_expr_test")
            }
            derived["name"] = f"quiet case {index}"
            derived["promql_expr_test"] = [
                {
                    "expr": f'count(ALERTS{{alertname="{alert}",{MARKER}!="{index}"}})',
                    "eval_time": case.get("eval_time"),
                    "exp_samples": [],
                }
            ]
            derived_groups.append(derived)
        if not derived_groups:
            continue
        rule_files = [
            str((test_file.parent / str(name)).resolve()) for name in document.get("rule_files") or []
        ]
        derived_document = {
            key: value
            for key, value in document.items()
            if key not in ("tests", "rule_files", "group_eval_order")
        }
        derived_document["rule_files"] = rule_files
        derived_document["tests"] = derived_groups
        with tempfile.TemporaryDirectory(prefix="readiness-quiet-") as folder:
            derived_file = Path(folder) / test_file.name
            derived_file.write_text(yaml.safe_dump(derived_document, sort_keys=False))
            result = promtool.test_rules(derived_file)
        output = result.stdout + result.stderr
        for index, unit in quiet:
            rule = rules.get(unit.alert)
            hold = rule.hold_s if rule is not None else 0.0
            pending = f'{MARKER}!=\\"{index}\\"' in output
            if pending:
                why = "the alert is pending or firing at that time: its condition holds, not a quiet case"
            elif rule is None:
                why = "no such rule"
            elif unit.eval_time_s < hold:
                why = f"evaluated at {unit.eval_time_s / 60:g}m, before the rule's for: of {hold / 60:g}m"
            else:
                why = ""
            found.append(UnitCase(unit.file, unit.group, unit.alert, unit.eval_time_s, False, not why, why))
        if result.returncode != 0 and not any(f'{MARKER}!=\\"{index}\\"' in output for index, _ in quiet):
            raise RulesError(
                f"promtool could not re-run the quiet cases of {test_file}:\n{output.strip()[-2000:]}"
            )
    return found
