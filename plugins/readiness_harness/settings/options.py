"""The harness's options: one declarative table; each a CLI flag, an ini key and an
environment variable, resolved once into `HarnessSettings`.

Resolution order: command line -> environment -> ini file -> default. An error names the
source that held the bad value. Secrets are never options: they are read from the
environment only (see `secrets.py`), because flags show up in process lists.

`readiness check` accepts every option of this table directly and hands it on to pytest,
so the table is the one place an option is declared.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from readiness_harness.settings.secrets import Secrets, load_secrets, redact_url, remember_url

GROUP = "readiness"
GATEWAY_NAMES = ("stripe", "paypal", "standard")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})

Kind = Literal["text", "url", "path", "list", "flag", "int"]


@dataclass(frozen=True)
class Option:
    """One setting: `--flag`, ini key `readiness_<name>`, and an environment variable."""

    name: str
    flag: str
    env: str | None
    help: str
    kind: Kind = "text"
    default: str | None = None
    metavar: str | None = None
    schemes: tuple[str, ...] = ()
    """For kind="url": the accepted URL schemes."""
    choices: tuple[str, ...] = ()
    """For kind="list": the accepted items."""
    section: str = "target"
    """Where `readiness check --help` lists it."""

    @property
    def ini(self) -> str:
        return f"readiness_{self.name}"

    @property
    def env_note(self) -> str:
        return f" [env {self.env}]" if self.env else ""


OPTIONS: tuple[Option, ...] = (
    # --- the target: what is judged, and how to reach it
    Option(
        "target_url",
        "--target-url",
        "READINESS_TARGET_URL",
        "base URL of the deployment to judge; without it the embedded default starts",
        kind="url",
        schemes=("http", "https"),
        metavar="URL",
    ),
    Option(
        "gateways",
        "--gateways",
        "READINESS_GATEWAYS",
        "gateways the target uses, comma-separated (stripe,paypal,standard); examples for the "
        "others are not applicable. Default: all three on the embedded default; against a target, "
        "what its /status `webhooks` booleans say, else this option is required",
        kind="list",
        choices=GATEWAY_NAMES,
        metavar="LIST",
    ),
    Option(
        "ca_bundle",
        "--ca-bundle",
        "READINESS_CA_BUNDLE",
        "CA bundle that verifies an https target (default: the system trust store)",
        kind="path",
        metavar="PATH",
    ),
    Option(
        "paypal_sandbox",
        "--paypal-sandbox",
        "READINESS_PAYPAL_SANDBOX",
        "start the PayPal API stand-in for this run and print its base URL and ids, so a "
        "deployment whose PAYPAL_API_BASE points at it gets its PayPal lines measured",
        kind="flag",
    ),
    Option(
        "paypal_sandbox_host",
        "--paypal-sandbox-host",
        "READINESS_PAYPAL_SANDBOX_HOST",
        "address the PayPal stand-in listens on (default 127.0.0.1)",
        default="127.0.0.1",
        metavar="HOST",
    ),
    Option(
        "paypal_sandbox_port",
        "--paypal-sandbox-port",
        "READINESS_PAYPAL_SANDBOX_PORT",
        "port of the PayPal stand-in (default: a free one)",
        kind="int",
        metavar="PORT",
    ),
    # --- the target's data: database, cache, backups (restore-drill lines)
    Option(
        "database_url",
        "--database-url",
        "DATABASE_URL",
        "the target's PostgreSQL (drill and backup lines); on the embedded default, servers "
        "to use instead of starting one (their data is never dropped)",
        kind="url",
        schemes=("postgresql", "postgres"),
        metavar="URL",
        section="data",
    ),
    Option(
        "redis_url",
        "--redis-url",
        "REDIS_URL",
        "the target's Redis (drill and cache lines); on the embedded default, a server to use",
        kind="url",
        schemes=("redis", "rediss"),
        metavar="URL",
        section="data",
    ),
    Option(
        "backup_path",
        "--backup-path",
        "BACKUP_PATH",
        "the target's backup folder (backup and retention lines)",
        kind="path",
        metavar="PATH",
        section="data",
    ),
    Option(
        "inventory",
        "--inventory",
        "READINESS_INVENTORY",
        "Ansible inventory of the target's fleet: the backup and restore-drill lines run on every "
        "host of its database_primary group (one example per host; host variables "
        "readiness_database_url, readiness_backup_path, readiness_pg_bin_dir; cache hosts "
        "readiness_redis_url); without it, on this machine",
        kind="path",
        metavar="FILE",
        section="data",
    ),
    Option(
        "pg_bin_dir",
        "--pg-bin-dir",
        "PG_BIN_DIR",
        "PostgreSQL client binaries of the target server's major version",
        kind="path",
        metavar="PATH",
        section="data",
    ),
    # --- evidence the target keeps: rules, workflows, monitoring
    Option(
        "alert_rules",
        "--alert-rules",
        "READINESS_ALERT_RULES",
        "the target's Prometheus rule files (a file or a folder; promtool tests beside them)",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "prometheus_url",
        "--prometheus-url",
        "READINESS_PROMETHEUS_URL",
        "the target's Prometheus (rules loaded, key metrics)",
        kind="url",
        schemes=("http", "https"),
        metavar="URL",
        section="evidence",
    ),
    Option(
        "alertmanager_url",
        "--alertmanager-url",
        "READINESS_ALERTMANAGER_URL",
        "the target's Alertmanager (configuration, routes, alerts that arrived)",
        kind="url",
        schemes=("http", "https"),
        metavar="URL",
        section="evidence",
    ),
    Option(
        "loki_url",
        "--loki-url",
        "READINESS_LOKI_URL",
        "the target's aggregated logs: Grafana Loki's query API (log aggregation lines)",
        kind="url",
        schemes=("http", "https"),
        metavar="URL",
        section="evidence",
    ),
    Option(
        "loki_selector",
        "--loki-selector",
        "READINESS_LOKI_SELECTOR",
        "LogQL stream selector of the service's logs in Loki",
        default='{job=~".+"}',
        metavar="SELECTOR",
        section="evidence",
    ),
    Option(
        "drill_history",
        "--drill-history",
        "READINESS_DRILL_HISTORY",
        "the restore drill's history file (history.jsonl; default on the embedded default: "
        "the drill reports folder's)",
        kind="path",
        metavar="FILE",
        section="evidence",
    ),
    Option(
        "drill_workflow",
        "--drill-workflow",
        "READINESS_DRILL_WORKFLOW",
        "the target's scheduled restore-drill workflow (GitHub Actions YAML)",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "load_report",
        "--load-report",
        "READINESS_LOAD_REPORT",
        "a `readiness load` result (load.json) from a bigger run against this target, for the "
        "load and performance testing lines (default: they run a small load test themselves)",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "workflows",
        "--workflows",
        "READINESS_WORKFLOWS",
        "the target's CI workflows (a folder such as .github/workflows, or one file): automation "
        "and branch-protection lines; default with --repository: its .github/workflows",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "repo_settings",
        "--repo-settings",
        "READINESS_REPO_SETTINGS",
        "the target's branch protection as code: .github/settings.yml (Settings app), or the JSON "
        "of its branch protection or ruleset from GitHub's API; default with --repository: its "
        ".github/settings.yml",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "security_report",
        "--security-report",
        "READINESS_SECURITY_REPORT",
        "folder of the target's security scan reports: bandit and pip-audit JSON (as `readiness "
        "security-scan` writes them); the security-scan line and the weekly review read it",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "repository",
        "--repository",
        "READINESS_REPOSITORY",
        "the target's repository checkout: README, docs, runbook pages (documentation lines)",
        kind="path",
        metavar="PATH",
        section="evidence",
    ),
    Option(
        "openapi",
        "--openapi",
        "READINESS_OPENAPI",
        "the target's OpenAPI document (JSON), when the target does not serve /openapi.json",
        kind="path",
        metavar="FILE",
        section="evidence",
    ),
    # --- disruption: only when asked for twice
    Option(
        "outage_hooks",
        "--outage-hooks",
        "READINESS_OUTAGE_HOOKS",
        "YAML file with stop/start hooks for the target's database, cache and service "
        "(resilience lines; needs --allow-disruption as well)",
        kind="path",
        metavar="FILE",
        section="disruption",
    ),
    Option(
        "allow_disruption",
        "--allow-disruption",
        "READINESS_ALLOW_DISRUPTION",
        "allow the outage hooks to stop the target's parts (resilience lines)",
        kind="flag",
        section="disruption",
    ),
    # --- the checklist and its report
    Option(
        "features_dir",
        "--features-dir",
        "READINESS_FEATURES_DIR",
        "folder of the checklist's .feature files (relative to the rootdir)",
        kind="path",
        default="features",
        section="report",
    ),
    Option(
        "reports_dir",
        "--reports-dir",
        "READINESS_REPORTS_DIR",
        "folder for evidence: drill reports, readiness.json",
        kind="path",
        default="reports",
        section="report",
    ),
    Option(
        "waivers",
        "--waivers",
        "READINESS_WAIVERS",
        "YAML file of waivers (line or example, reason, owner, expires)",
        kind="path",
        default="waivers.yml",
        metavar="FILE",
        section="report",
    ),
    Option(
        "attestations",
        "--attestations",
        "READINESS_ATTESTATIONS",
        "YAML file of attested human items (who, when, link)",
        kind="path",
        default="attestations.yml",
        metavar="FILE",
        section="report",
    ),
)

OPTION_BY_NAME = {option.name: option for option in OPTIONS}
SECTIONS = {
    "target": "the target and how to reach it",
    "data": "the target's database, cache and backups",
    "evidence": "evidence the target keeps (rules, workflows, monitoring)",
    "disruption": "outages on the target (only when asked for twice)",
    "report": "the checklist and its report",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "production-readiness checklist")
    for option in OPTIONS:
        if option.kind == "flag":
            group.addoption(
                option.flag,
                dest=option.ini,
                action="store_true",
                default=None,
                help=option.help + option.env_note,
            )
            parser.addini(option.ini, option.help, type="bool", default=False)
        else:
            group.addoption(
                option.flag,
                dest=option.ini,
                default=None,
                metavar=option.metavar,
                help=option.help + option.env_note,
            )
            parser.addini(option.ini, option.help, default=option.default)


@dataclass(frozen=True)
class Resolved:
    """One option's value and where it came from (for error messages)."""

    value: str | None
    source: str


def _resolve(config: pytest.Config, option: Option, environ: Mapping[str, str]) -> Resolved:
    value = config.getoption(option.ini)
    if value not in (None, ""):
        return Resolved("true" if value is True else str(value), f"command line {option.flag}")
    if option.env and environ.get(option.env):
        return Resolved(environ[option.env], f"environment variable {option.env}")
    ini_value = config.getini(option.ini)
    if option.kind == "flag":
        return Resolved("true" if ini_value else None, f"ini key {option.ini}" if ini_value else "default")
    if ini_value:
        return Resolved(str(ini_value), f"ini key {option.ini}")
    return Resolved(option.default, "default")


def _validate(option: Option, resolved: Resolved) -> None:
    value = resolved.value
    if value is None:
        return
    if option.kind == "url":
        from urllib.parse import urlsplit

        parsed = urlsplit(value)
        if parsed.scheme not in option.schemes or not parsed.hostname:
            raise pytest.UsageError(
                f"{resolved.source} must be a {' or '.join(option.schemes)} URL with a host, "
                f"got {redact_url(value)!r}"
            )
    elif option.kind == "list":
        items = split_list(value)
        unknown = [item for item in items if item not in option.choices]
        if unknown or not items:
            raise pytest.UsageError(
                f"{resolved.source}: {', '.join(unknown) or 'nothing'} is not one of "
                f"{', '.join(option.choices)} (comma-separated)"
            )
    elif option.kind == "int":
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise pytest.UsageError(f"{resolved.source} must be a port number, got {value!r}")
    elif option.kind == "flag" and value.lower() not in TRUE_WORDS | {"0", "false", "no", "off", ""}:
        raise pytest.UsageError(f"{resolved.source} must be true or false, got {value!r}")


def split_list(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip().lower() for item in value.split(",") if item.strip()))


@dataclass(frozen=True)
class HarnessSettings:
    """Every option resolved, typed accessors, and the secrets from the environment."""

    values: Mapping[str, Resolved]
    rootdir: Path
    secrets: Secrets = field(repr=False)

    def text(self, name: str) -> str | None:
        return self.values[name].value

    def source(self, name: str) -> str:
        return self.values[name].source

    def path(self, name: str) -> Path | None:
        value = self.text(name)
        if value is None:
            return None
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.rootdir / path

    def flag(self, name: str) -> bool:
        value = self.text(name)
        return value is not None and value.lower() in TRUE_WORDS

    def number(self, name: str) -> int | None:
        value = self.text(name)
        return int(value) if value else None

    def items(self, name: str) -> tuple[str, ...] | None:
        value = self.text(name)
        return split_list(value) if value else None

    def given(self, name: str) -> bool:
        """True when the option was set anywhere (not only its default)."""
        return self.source(name) != "default" and self.text(name) is not None

    # The settings every room reads, typed.
    @property
    def target_url(self) -> str | None:
        return self.text("target_url")

    @property
    def embedded(self) -> bool:
        """True when the harness runs the reference service itself (no --target-url)."""
        return self.target_url is None

    @property
    def database_url(self) -> str | None:
        return self.text("database_url")

    @property
    def redis_url(self) -> str | None:
        return self.text("redis_url")

    @property
    def features_dir(self) -> Path:
        path = self.path("features_dir")
        assert path is not None  # nosec B101 # type narrowing: the option has a default
        return path

    @property
    def reports_dir(self) -> Path:
        path = self.path("reports_dir")
        assert path is not None  # nosec B101 # type narrowing: the option has a default
        return path

    @property
    def waivers_file(self) -> Path:
        path = self.path("waivers")
        assert path is not None  # nosec B101 # type narrowing: the option has a default
        return path

    @property
    def attestations_file(self) -> Path:
        path = self.path("attestations")
        assert path is not None  # nosec B101 # type narrowing: the option has a default
        return path

    @property
    def ca_bundle(self) -> Path | None:
        return self.path("ca_bundle")

    @property
    def backup_path(self) -> Path | None:
        return self.path("backup_path")


def resolve_settings(config: pytest.Config, environ: Mapping[str, str] | None = None) -> HarnessSettings:
    env = os.environ if environ is None else environ
    values = {option.name: _resolve(config, option, env) for option in OPTIONS}
    for option in OPTIONS:
        _validate(option, values[option.name])
        value = values[option.name].value
        if option.kind == "url" and value:
            remember_url(value)  # its password and tokens are scrubbed from whatever the run writes
    return HarnessSettings(values=values, rootdir=config.rootpath, secrets=load_secrets(env))


def cli_arguments(values: Mapping[str, object]) -> list[str]:
    """pytest arguments for the options set in `values` (name -> value), for `readiness
    check`, which accepts every option directly and runs pytest."""
    arguments = []
    for option in OPTIONS:
        value = values.get(option.name)
        if value in (None, False, ""):
            continue
        arguments.append(option.flag if option.kind == "flag" else f"{option.flag}={value}")
    return arguments


def environment_variables(options: Iterable[Option] = OPTIONS) -> list[str]:
    return [option.env for option in options if option.env]
