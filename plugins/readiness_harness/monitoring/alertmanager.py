"""Alertmanager: its HTTP API (alerts, configuration) and amtool's checks.

`amtool check-config` validates a configuration file; `amtool config routes test`
resolves which receiver(s) an alert with given labels reaches, from a file or from a
running Alertmanager. `receivers_that_notify()` tells a receiver that notifies someone
from a blackhole (a receiver with no integration at all).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from readiness_harness.monitoring import binaries
from readiness_harness.monitoring.prometheus import split_credentials
from readiness_harness.settings.secrets import redact_url

TIMEOUT_S = 15.0
AMTOOL_TIMEOUT_S = 60.0
INTEGRATIONS = (
    "webhook_configs",
    "email_configs",
    "pagerduty_configs",
    "slack_configs",
    "opsgenie_configs",
    "victorops_configs",
    "pushover_configs",
    "wechat_configs",
    "sns_configs",
    "telegram_configs",
    "discord_configs",
    "webex_configs",
    "msteams_configs",
)
"""The notification integrations a receiver may carry (Alertmanager 0.25 and later)."""


class AlertmanagerError(RuntimeError):
    """An Alertmanager call or an amtool run failed; the message says which and why."""


class AlertmanagerClient:
    """Alertmanager's API v2 (`/api/v2/...`)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None, timeout: float = TIMEOUT_S) -> None:
        base, from_url = split_credentials(url)
        self.url = base
        self.shown_url = redact_url(url)
        self._client = httpx.Client(base_url=base, auth=auth or from_url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise AlertmanagerError(
                f"Alertmanager at {self.shown_url} did not answer {path}: {type(exc).__name__}: {exc}"
            ) from exc
        if response.status_code != 200:
            raise AlertmanagerError(
                f"Alertmanager at {self.shown_url} answered {path} with HTTP {response.status_code}: "
                f"{response.text[:200]!r}"
            )
        return response.json()

    def ready(self) -> bool:
        try:
            return self._client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def alerts(self, alertname: str | None = None) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (active, silenced or inhibited), each with `receivers`."""
        params = {"filter": f'alertname="{alertname}"'} if alertname else None
        return list(self._get("/api/v2/alerts", params))

    def config_text(self) -> str:
        """The running configuration, as Alertmanager shows it (secrets masked as <secret>)."""
        return str(self._get("/api/v2/status")["config"]["original"])

    def wait_for_alert(
        self, alertname: str, labels: Mapping[str, str], timeout: float
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            for alert in self.alerts(alertname):
                status = alert.get("status", {}).get("state")
                if status == "active" and all(alert["labels"].get(k) == v for k, v in labels.items()):
                    return alert
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.5)


def _amtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        executable = binaries.find(binaries.AMTOOL)
    except binaries.BinaryNotFound as exc:
        raise AlertmanagerError(str(exc)) from exc
    return subprocess.run(
        [str(executable), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=AMTOOL_TIMEOUT_S,
        cwd=cwd,
    )


def check_config(config_file: Path) -> subprocess.CompletedProcess[str]:
    """`amtool check-config FILE`."""
    config_file = config_file.resolve()
    return _amtool("check-config", str(config_file), cwd=config_file.parent)


@dataclass(frozen=True)
class Route:
    """Where an alert with `labels` goes."""

    labels: Mapping[str, str]
    receivers: tuple[str, ...]
    output: str


def routes_test(config_file: Path, labels: Mapping[str, str]) -> Route:
    """`amtool config routes test --config.file FILE label=value...`: the receivers, in
    the order of the routing tree."""
    pairs = [f"{key}={value}" for key, value in sorted(labels.items())]
    result = _amtool("config", "routes", "test", f"--config.file={config_file.resolve()}", *pairs)
    if result.returncode != 0:
        raise AlertmanagerError(
            f"amtool config routes test {' '.join(pairs)} failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-500:]}"
        )
    receivers = tuple(name.strip() for name in result.stdout.strip().split(",") if name.strip())
    return Route(labels, receivers, result.stdout.strip())


def load_config(config_file: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise AlertmanagerError(f"{config_file}: cannot read the Alertmanager configuration: {exc}") from exc
    if not isinstance(document, dict):
        raise AlertmanagerError(f"{config_file}: not an Alertmanager configuration (a YAML mapping)")
    return document


def receivers_that_notify(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Receiver name -> the integrations it notifies through (empty list: a blackhole)."""
    result: dict[str, list[str]] = {}
    for receiver in config.get("receivers") or []:
        result[str(receiver.get("name"))] = [
            key for key in INTEGRATIONS if isinstance(receiver.get(key), list) and receiver[key]
        ]
    return result


def route_alerts(config_file: Path, label_sets: Sequence[Mapping[str, str]]) -> list[Route]:
    return [routes_test(config_file, labels) for labels in label_sets]
