"""Alerting rules as the checklist reads them: from rule files, or from a running Prometheus.

A target's rules come from `--alert-rules PATH` (a rule file, or a folder of rule files
and promtool test files, told apart by their top-level key: `groups` or `tests`) or from
the rules its Prometheus has loaded (`/api/v1/rules`). Either way they become the same
`AlertRule` records, so the lines judge the target's rules, not the repository's.

`compress()` rewrites a rule document onto a faster clock (every duration divided by a
ratio: `for:`, range selectors, subqueries and offsets), for the embedded Prometheus,
whose alerts must fire within a run; the expressions are otherwise untouched.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_RANGE = re.compile(rf"\[\s*({_DURATION})\s*(?::\s*({_DURATION})?\s*)?\]")
_OFFSET = re.compile(rf"\boffset\s+(-?)({_DURATION})")


class RulesError(ValueError):
    """Rules that cannot be read; the message names the file or URL and what is wrong."""


def parse_duration(text: str | int | float | None) -> float:
    """Seconds in a Prometheus duration ("5m", "1h30m", "90s"); 0 for None or ""."""
    if text is None or text == "":
        return 0.0
    if isinstance(text, int | float):
        return float(text)
    value = text.strip()
    if not re.fullmatch(_DURATION, value):
        raise RulesError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(value))


def format_duration(seconds: float) -> str:
    """A Prometheus duration for `seconds` (whole milliseconds, at least 1 ms)."""
    milliseconds = max(1, round(seconds * 1000))
    if milliseconds % 60_000 == 0:
        return f"{milliseconds // 60_000}m"
    if milliseconds % 1000 == 0:
        return f"{milliseconds // 1000}s"
    return f"{milliseconds}ms"


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule: what it watches, how long it waits, what it says."""

    name: str
    expr: str
    hold_s: float
    """The rule's `for:` in seconds (0: fires on the first evaluation that matches)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    group: str = ""
    source: str = ""
    """Where it was read: a file path or a Prometheus URL."""

    @property
    def severity(self) -> str | None:
        return self.labels.get("severity")

    def as_rule(self) -> dict[str, Any]:
        """The rule as a rule-file entry (to run it under promtool)."""
        entry: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.hold_s:
            entry["for"] = format_duration(self.hold_s)
        if self.labels:
            entry["labels"] = dict(self.labels)
        if self.annotations:
            entry["annotations"] = dict(self.annotations)
        return entry


@dataclass(frozen=True)
class RuleSet:
    """The alerting rules of a target, and where they came from."""

    rules: tuple[AlertRule, ...]
    source: str
    rule_files: tuple[Path, ...] = ()
    test_files: tuple[Path, ...] = ()
    """promtool unit-test files found beside the rule files (empty when read from Prometheus)."""

    def get(self, name: str) -> AlertRule | None:
        return next((rule for rule in self.rules if rule.name == name), None)

    @property
    def names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    def document(self) -> dict[str, Any]:
        """All rules as one rule-file document, grouped as they were."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for rule in self.rules:
            groups.setdefault(rule.group or "rules", []).append(rule.as_rule())
        return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"{path}: not valid YAML: {exc}") from exc


def _rules_of(document: Mapping[str, Any], source: Path) -> list[AlertRule]:
    groups = document.get("groups")
    if not isinstance(groups, list):
        raise RulesError(f"{source}: `groups` must be a list of rule groups")
    rules = []
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise RulesError(f"{source}: every group needs a name and a list of rules")
        for rule in group["rules"]:
            if not isinstance(rule, dict) or "alert" not in rule:
                continue  # recording rules are not alerts
            if not isinstance(rule.get("expr"), str | int | float):
                raise RulesError(f"{source}: alert {rule.get('alert')!r} has no expr")
            rules.append(
                AlertRule(
                    name=str(rule["alert"]),
                    expr=str(rule["expr"]).strip(),
                    hold_s=parse_duration(rule.get("for")),
                    labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                    group=str(group.get("name", "")),
                    source=str(source),
                )
            )
    return rules


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix in (".yml", ".yaml") and path.is_file())


def load_rule_files(path: Path) -> RuleSet:
    """Rules from a rule file or a folder. A folder's files are rule files (`groups:`) or
    promtool test files (`tests:`); others are ignored. Test files beside a single rule
    file are found the same way."""
    if not path.exists():
        raise RulesError(f"{path} does not exist")
    folder = path if path.is_dir() else path.parent
    rule_files: list[Path] = []
    test_files: list[Path] = []
    rules: list[AlertRule] = []
    candidates = _yaml_files(folder)
    for candidate in candidates:
        document = _load_yaml(candidate)
        if not isinstance(document, dict):
            continue
        if "tests" in document:
            test_files.append(candidate)
        elif "groups" in document and (path.is_dir() or candidate == path):
            rule_files.append(candidate)
            rules.extend(_rules_of(document, candidate))
    if not rule_files:
        raise RulesError(f"{path}: no Prometheus rule file (a YAML document with `groups:`)")
    return RuleSet(tuple(rules), str(path), tuple(rule_files), tuple(test_files))


def rules_from_api(payload: Mapping[str, Any], source: str) -> RuleSet:
    """Rules from Prometheus's `/api/v1/rules` answer (its `data`)."""
    rules = []
    for group in payload.get("groups", []):
        for rule in group.get("rules", []):
            if rule.get("type") != "alerting":
                continue
            rules.append(
                AlertRule(
                    name=str(rule["name"]),
                    expr=str(rule["query"]),
                    hold_s=float(rule.get("duration") or 0),
                    labels={str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                    annotations={str(k): str(v) for k, v in (rule.get("annotations") or {}).items()},
                    group=str(group.get("name", "")),
                    source=source,
                )
            )
    return RuleSet(tuple(rules), source)


def compress_expr(expr: str, ratio: float) -> str:
    """`expr` with every range, subquery step and offset divided by `ratio`."""

    def scale(text: str) -> str:
        return format_duration(parse_duration(text) / ratio)

    def on_range(match: re.Match[str]) -> str:
        window, step = match.group(1), match.group(2)
        if ":" not in match.group(0):
            return f"[{scale(window)}]"
        return f"[{scale(window)}:{scale(step) if step else ''}]"

    expr = _RANGE.sub(on_range, expr)
    return _OFFSET.sub(lambda m: f"offset {m.group(1)}{scale(m.group(2))}", expr)


def compress(document: Mapping[str, Any], ratio: float) -> dict[str, Any]:
    """A copy of a rule document on a clock `ratio` times faster: `for:`, `keep_firing_for:`,
    group intervals and every duration in the expressions divided by `ratio`."""
    if ratio <= 0:
        raise ValueError("ratio must be positive")
    result = copy.deepcopy(dict(document))
    for group in result.get("groups", []):
        if group.get("interval"):
            group["interval"] = format_duration(parse_duration(group["interval"]) / ratio)
        for rule in group.get("rules", []):
            rule["expr"] = compress_expr(str(rule["expr"]), ratio)
            for key in ("for", "keep_firing_for"):
                if rule.get(key):
                    rule[key] = format_duration(parse_duration(rule[key]) / ratio)
    return result


def runbook_problems(rule: AlertRule, runbook_root: Path | None = None) -> list[str]:
    """What is wrong with a rule's runbook link (empty when it is usable): it must be an
    http(s) URL, or a path to a Markdown file (relative to `runbook_root`) whose heading
    the #anchor names."""
    link = rule.annotations.get("runbook_url", "").strip()
    if not link:
        return ["no runbook_url annotation"]
    if re.match(r"^https?://[^\s/]+", link):
        return []
    if runbook_root is None:
        return [f"runbook_url {link!r} is not an http(s) URL"]
    path_text, _, anchor = link.partition("#")
    document = (runbook_root / path_text).resolve()
    if not document.is_file():
        return [f"runbook_url {link!r}: {document} does not exist"]
    if anchor and anchor not in markdown_anchors(document.read_text(encoding="utf-8")):
        return [f"runbook_url {link!r}: {document.name} has no heading #{anchor}"]
    return []


def markdown_anchors(text: str) -> set[str]:
    """GitHub-style anchors of a Markdown document's headings."""
    anchors = set()
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            title = re.sub(r"[^\w\- ]", "", match.group(1).lower())
            anchors.add(title.replace(" ", "-"))
    return anchors


def write_rule_file(rules: Iterable[AlertRule], path: Path) -> Path:
    """Rules as a rule file at `path` (promtool runs rules read from a Prometheus this way)."""
    path.write_text(yaml.safe_dump(RuleSet(tuple(rules), str(path)).document(), sort_keys=False))
    return path
