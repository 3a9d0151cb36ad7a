"""Alerting rules with their annotations, from rule files or from a running Prometheus.

Rule files are Prometheus's YAML (`groups:` of `rules:`); files of a folder that are not
rule files (promtool tests, Alertmanager's configuration) are passed over. A Prometheus
URL is asked through its HTTP API, `/api/v1/rules?type=alert`, which answers with the
rules it loaded, annotations included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

RULE_SUFFIXES = (".yml", ".yaml")
QUERY_TIMEOUT_S = 10.0


class AlertRulesError(ValueError):
    """The rules cannot be read; the message says where and why."""


@dataclass(frozen=True)
class AlertRule:
    alert: str
    annotations: Mapping[str, str]
    source: str
    folder: Path | None = None
    """The rule file's folder (a relative runbook_url may be relative to it)."""

    @property
    def runbook_url(self) -> str:
        return str(self.annotations.get("runbook_url") or "").strip()


def _from_files(path: Path) -> list[AlertRule]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES)
    rules: list[AlertRule] = []
    for file in files:
        try:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise AlertRulesError(f"{file}: cannot read it as YAML: {exc}") from exc
        if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
            continue
        for group in document["groups"]:
            for rule in (group or {}).get("rules") or []:
                if isinstance(rule, dict) and rule.get("alert"):
                    annotations = {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}
                    rules.append(AlertRule(str(rule["alert"]), annotations, file.name, file.parent))
    return rules


def _from_prometheus(url: str) -> list[AlertRule]:
    try:
        response = httpx.get(
            url.rstrip("/") + "/api/v1/rules", params={"type": "alert"}, timeout=QUERY_TIMEOUT_S
        )
    except httpx.HTTPError as exc:
        raise AlertRulesError(f"{url}/api/v1/rules: no answer: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        raise AlertRulesError(f"{url}/api/v1/rules answered {response.status_code}")
    groups: list[dict[str, Any]] = response.json().get("data", {}).get("groups", [])
    return [
        AlertRule(
            str(rule.get("name")), {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}, url
        )
        for group in groups
        for rule in group.get("rules", [])
        if rule.get("type") == "alerting"
    ]


def load_alert_rules(source: Path | str) -> list[AlertRule]:
    """The alerting rules of rule files (a file or a folder) or of a Prometheus URL."""
    return _from_files(source) if isinstance(source, Path) else _from_prometheus(source)
