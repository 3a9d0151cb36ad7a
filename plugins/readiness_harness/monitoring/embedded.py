"""Real Prometheus, Alertmanager and node_exporter for the embedded default.

`EmbeddedMonitoring` starts, on free loopback ports, in a folder only this user can read:

* node_exporter with only its textfile collector, reading the restore drill's report
  folder (the drill writes `<host>.prom` there, as node_exporter's textfile format);
* Alertmanager with the deployment's `alertmanager.yml`, its routing tree untouched but
  every receiver's integrations replaced by a webhook to the harness's `AlertReceiver`
  (`/receivers/<name>`), so nothing leaves the machine and a line sees which receiver an
  alert reached; clustering is off;
* Prometheus scraping the reference service (https, the run's CA) and the node
  exporters, with the deployment's alerting rules loaded and sending to Alertmanager.

All three answer only to basic auth with a password made for the run (bcrypt in their
`--web.config.file`), so other users of the machine can neither read nor feed them.

The clock: rules wait minutes (`for: 5m`, `rate(...[5m])`) and Alertmanager waits
seconds before it notifies (`group_wait: 30s`). A run cannot wait that long, so the
embedded copies run `ratio` times faster (60: a minute is a second): every duration in
the rules' expressions, their `for:`, and the routing tree's waits are divided by it.
Thresholds, labels, annotations and routes are exactly the deployment's. The
unmodified files are what promtool and amtool check.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from readiness_harness.monitoring import binaries
from readiness_harness.monitoring.alertmanager import INTEGRATIONS, AlertmanagerClient, load_config
from readiness_harness.monitoring.prometheus import PrometheusClient
from readiness_harness.monitoring.receiver import AlertReceiver
from readiness_harness.monitoring.rules import compress, format_duration, parse_duration
from readiness_harness.settings.secrets import Secret
from readiness_harness.target.embedded import free_port
from readiness_harness.target.stack import private_folder

logger = logging.getLogger(__name__)

CLOCK_RATIO = 60.0
"""The embedded monitoring's clock: 60 times faster than the deployment's (a minute is a second)."""
SCRAPE_INTERVAL_S = 1.0
START_TIMEOUT_S = 60.0
USER = "readiness"
SERVICE_JOB = "cardpack"
NODE_JOB = "node"


class MonitoringError(RuntimeError):
    """The embedded monitoring could not start; the message says which part and why."""


@dataclass
class ManagedProcess:
    """A server process with its own log file, stopped (TERM, then KILL) on `stop()`."""

    name: str
    command: list[str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT_S) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MonitoringError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            with contextlib.suppress(Exception):  # still starting: keep polling
                if ready():
                    return
            time.sleep(0.1)
        self.stop()
        raise MonitoringError(f"{self.name} did not become ready within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass(frozen=True)
class ServiceEndpoint:
    """The reference service as Prometheus scrapes it."""

    address: str
    """host:port"""
    scheme: str = "https"
    ca_file: Path | None = None


def harness_alertmanager_config(
    config: Mapping[str, Any], receiver: AlertReceiver, ratio: float, config_dir: Path
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The deployment's Alertmanager configuration with every receiver delivering to the
    harness's receiver instead, and the routing tree's waits on the faster clock. Returns
    the configuration and, per receiver, the integrations it replaced."""
    result = json.loads(json.dumps(config))  # a deep copy of plain YAML data
    replaced: dict[str, list[str]] = {}
    for entry in result.get("receivers") or []:
        name = str(entry.get("name"))
        replaced[name] = [key for key in INTEGRATIONS if entry.get(key)]
        for key in list(entry):
            if key != "name":
                del entry[key]
        entry["webhook_configs"] = [
            {
                "url": receiver.url_for(name),
                "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials": receiver.token.reveal()}},
            }
        ]

    def scale(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if route.get(key):
                route[key] = format_duration(parse_duration(route[key]) / ratio)
        for child in route.get("routes") or []:
            scale(child)

    route = result.setdefault("route", {})
    route.setdefault("group_wait", "30s")
    route.setdefault("group_interval", "5m")
    route.setdefault("repeat_interval", "4h")
    scale(route)
    glob = result.setdefault("global", {})
    glob["resolve_timeout"] = format_duration(parse_duration(glob.get("resolve_timeout") or "5m") / ratio)
    result["templates"] = [str((config_dir / str(path)).resolve()) for path in result.get("templates") or []]
    return result, replaced


class EmbeddedMonitoring:
    """Prometheus, Alertmanager, node_exporter and the alert receiver, for one run."""

    def __init__(
        self,
        service: ServiceEndpoint,
        rule_files: list[Path],
        alertmanager_config: Path,
        textfile_dir: Path,
        ratio: float = CLOCK_RATIO,
    ) -> None:
        self.service = service
        self.rule_files = rule_files
        self.alertmanager_config = alertmanager_config
        self.textfile_dir = textfile_dir
        self.ratio = ratio
        self.password = Secret(secrets.token_urlsafe(24))
        self.folder = private_folder("readiness-monitoring-")
        self.receiver = AlertReceiver()
        self.replaced_integrations: dict[str, list[str]] = {}
        self._processes: list[ManagedProcess] = []
        self._node_targets: list[dict[str, Any]] = []
        self._clients: list[PrometheusClient | AlertmanagerClient] = []
        self.prometheus_port = free_port()
        self.alertmanager_port = free_port()
        self.started_at = 0.0
        """The timestamp of Prometheus's first complete scrape of the service: where the
        run's window starts (nothing sent after `start()` returned is in that scrape)."""

    # ---- what the lines use
    @property
    def auth(self) -> tuple[str, str]:
        return USER, self.password.reveal()

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def prometheus(self) -> PrometheusClient:
        client = PrometheusClient(self.prometheus_url, auth=self.auth)
        self._clients.append(client)
        return client

    def alertmanager(self) -> AlertmanagerClient:
        client = AlertmanagerClient(self.alertmanager_url, auth=self.auth)
        self._clients.append(client)
        return client

    def describe(self) -> dict[str, Any]:
        return {
            "prometheus": self.prometheus_url,
            "alertmanager": self.alertmanager_url,
            "clock": f"{self.ratio:g} times faster than the deployment's: every rule duration "
            f"(for:, range windows, offsets) and the routing tree's waits divided by {self.ratio:g}",
            "rule_files": [str(path) for path in self.rule_files],
            "alertmanager_config": str(self.alertmanager_config),
            "receivers_replaced_by_the_harness": self.replaced_integrations,
            "textfile_dirs": [target["labels"]["textfile_dir"] for target in self._node_targets],
        }

    # ---- lifecycle
    def start(self) -> EmbeddedMonitoring:
        started = time.monotonic()
        try:
            self.receiver.start()
            self._write_web_config()
            self._start_alertmanager()
            self.watch_textfiles(self.textfile_dir)
            self.started_at = self._start_prometheus()
        except BaseException:
            self.stop()
            raise
        logger.info("embedded monitoring ready in %.1fs", time.monotonic() - started)
        return self

    def stop(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()
        for process in reversed(self._processes):
            process.stop()
        self.receiver.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> EmbeddedMonitoring:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_web_config(self) -> None:
        # bcrypt's lowest cost: the password is 24 random bytes, which no amount of hashing
        # work protects further, and every scrape and API call checks it.
        hashed = bcrypt.hashpw(self.password.reveal().encode(), bcrypt.gensalt(rounds=4)).decode()
        self._web_config = self.folder / "web.yml"
        self._web_config.write_text(yaml.safe_dump({"basic_auth_users": {USER: hashed}}))
        self._password_file = self.folder / "password"
        self._password_file.write_text(self.password.reveal())
        self._password_file.chmod(0o600)

    def _basic_auth(self) -> dict[str, str]:
        return {"username": USER, "password_file": str(self._password_file)}

    def _authorized(self, url: str) -> Callable[[], bool]:
        import httpx

        def ready() -> bool:
            return httpx.get(url, auth=self.auth, timeout=2).status_code == 200

        return ready

    def _start_alertmanager(self) -> None:
        config, self.replaced_integrations = harness_alertmanager_config(
            load_config(self.alertmanager_config), self.receiver, self.ratio, self.alertmanager_config.parent
        )
        config_file = self.folder / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        data = self.folder / "alertmanager-data"
        data.mkdir(mode=0o700)
        process = ManagedProcess(
            "Alertmanager",
            [
                str(binaries.find(binaries.ALERTMANAGER)),
                f"--config.file={config_file}",
                f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                f"--web.config.file={self._web_config}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            self.folder / "alertmanager.log",
        )
        self._processes.append(process)
        try:
            process.start(self._authorized(f"{self.alertmanager_url}/-/ready"))
        except MonitoringError as exc:
            if "default.tmpl" in str(exc):
                raise MonitoringError(
                    f"{exc}\nDebian's Alertmanager reads its templates from "
                    "/usr/share/prometheus/alertmanager: run `make monitoring-binaries` (installs them "
                    "from Debian's package, with sudo when not root) or apt-get install "
                    "prometheus-alertmanager"
                ) from exc
            raise

    def watch_textfiles(self, folder: Path, labels: Mapping[str, str] | None = None) -> str:
        """Start a node_exporter whose textfile collector reads `folder`, scraped as job
        "node"; returns its instance address (the `instance` label of its series)."""
        port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        process = ManagedProcess(
            f"node_exporter ({folder})",
            [
                str(binaries.find(binaries.NODE_EXPORTER)),
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.config.file={self._web_config}",
                "--collector.disable-defaults",
                "--collector.textfile",
                f"--collector.textfile.directory={folder}",
                "--log.level=warn",
            ],
            self.folder / f"node_exporter_{port}.log",
        )
        self._processes.append(process)
        process.start(self._authorized(f"http://127.0.0.1:{port}/metrics"))
        instance = f"127.0.0.1:{port}"
        self._node_targets.append(
            {"targets": [instance], "labels": {"textfile_dir": str(folder), **dict(labels or {})}}
        )
        targets_file = self.folder / "node_targets.json"
        staging = targets_file.with_suffix(".tmp")
        staging.write_text(json.dumps(self._node_targets))
        staging.rename(targets_file)  # file_sd reads it whole or not at all
        return instance

    def _prometheus_config(self, rules_dir: Path) -> dict[str, Any]:
        service: dict[str, Any] = {
            "job_name": SERVICE_JOB,
            "scheme": self.service.scheme,
            "static_configs": [{"targets": [self.service.address]}],
        }
        if self.service.ca_file is not None:
            service["tls_config"] = {"ca_file": str(self.service.ca_file)}
        return {
            "global": {
                "scrape_interval": format_duration(SCRAPE_INTERVAL_S),
                "scrape_timeout": format_duration(SCRAPE_INTERVAL_S * 0.9),
                "evaluation_interval": format_duration(SCRAPE_INTERVAL_S),
            },
            "rule_files": [str(rules_dir / "*.yml")],
            "alerting": {
                "alertmanagers": [
                    {
                        "basic_auth": self._basic_auth(),
                        "static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}],
                    }
                ]
            },
            "scrape_configs": [
                service,
                {
                    "job_name": NODE_JOB,
                    "basic_auth": self._basic_auth(),
                    "file_sd_configs": [
                        {"files": [str(self.folder / "node_targets.json")], "refresh_interval": "1s"}
                    ],
                },
            ],
        }

    def _start_prometheus(self) -> float:
        rules_dir = self.folder / "rules"
        rules_dir.mkdir()
        for index, rule_file in enumerate(self.rule_files):
            document = yaml.safe_load(rule_file.read_text(encoding="utf-8"))
            (rules_dir / f"{index:02d}_{rule_file.stem}.yml").write_text(
                yaml.safe_dump(compress(document, self.ratio), sort_keys=False)
            )
        config_file = self.folder / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self._prometheus_config(rules_dir), sort_keys=False))
        data = self.folder / "prometheus-data"
        data.mkdir(mode=0o700)
        process = ManagedProcess(
            "Prometheus",
            [
                str(binaries.find(binaries.PROMETHEUS)),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                f"--web.config.file={self._web_config}",
                "--storage.tsdb.retention.time=1d",
                "--rules.alert.resend-delay=1s",
                "--log.level=warn",
            ],
            self.folder / "prometheus.log",
        )
        self._processes.append(process)
        process.start(self._authorized(f"{self.prometheus_url}/-/ready"))
        client = self.prometheus()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not client.vector(f'up{{job="{SERVICE_JOB}"}} == 1'):
            if time.monotonic() > deadline:
                raise MonitoringError(
                    f"Prometheus never scraped the service at {self.service.address}: "
                    f"{[t.get('lastError') for t in client.targets()]}"
                )
            time.sleep(0.2)
        # The window of the run starts at that scrape, to the millisecond: it is complete
        # in the TSDB (its `up` is), so nothing sent from now on is in it.
        first_scrape = client.scalar(f'max(timestamp(up{{job="{SERVICE_JOB}"}}))')
        return first_scrape if first_scrape is not None else time.time()

    def logs(self) -> dict[str, str]:
        """The tail of every server's log (for a failing line's message)."""
        return {process.name: process.log_tail() for process in self._processes}


@contextlib.contextmanager
def embedded_monitoring(
    service: ServiceEndpoint,
    rule_files: list[Path],
    alertmanager_config: Path,
    textfile_dir: Path,
    ratio: float = CLOCK_RATIO,
) -> Iterator[EmbeddedMonitoring]:
    stack = EmbeddedMonitoring(service, rule_files, alertmanager_config, textfile_dir, ratio)
    with stack:
        yield stack
