"""The harness's options: each a CLI flag and an ini key, resolved once into settings.

Resolution order: command line -> environment -> ini file -> default. Secrets are read
from the environment only (never flags, which show up in process lists) and are
generated for the embedded default when absent.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

GROUP = "readiness"


@dataclass(frozen=True)
class Option:
    flag: str
    ini: str
    env: str | None
    help: str
    default: str | None = None


OPTIONS = (
    Option(
        "--target-url",
        "readiness_target_url",
        "READINESS_TARGET_URL",
        "base URL of a deployed service to check; without it the embedded default starts",
    ),
    Option(
        "--database-url",
        "readiness_database_url",
        "DATABASE_URL",
        "PostgreSQL for the embedded service; without it an embedded PostgreSQL starts",
    ),
    Option(
        "--redis-url",
        "readiness_redis_url",
        "REDIS_URL",
        "Redis for the embedded service; without it an embedded Redis starts",
    ),
    Option(
        "--features-dir",
        "readiness_features_dir",
        "READINESS_FEATURES_DIR",
        "folder of the checklist's .feature files (relative to the rootdir)",
        "features",
    ),
    Option(
        "--backup-path", "readiness_backup_path", "BACKUP_PATH", "folder the backup and drill playbooks use"
    ),
    Option(
        "--inventory",
        "readiness_inventory",
        "READINESS_INVENTORY",
        "Ansible inventory of the fleet: the backup and restore-drill lines run on every host of "
        "its database_primary group (one example per host); without it, on the local host",
    ),
    Option(
        "--reports-dir",
        "readiness_reports_dir",
        "READINESS_REPORTS_DIR",
        "folder for evidence: drill reports, readiness.json",
        "reports",
    ),
    Option(
        "--ca-bundle",
        "readiness_ca_bundle",
        "READINESS_CA_BUNDLE",
        "CA bundle that verifies an https target (default: the system trust store)",
    ),
    Option(
        "--waivers",
        "readiness_waivers",
        "READINESS_WAIVERS",
        "YAML file of waivers (line, reason, owner, expires)",
        "waivers.yml",
    ),
    Option(
        "--attestations",
        "readiness_attestations",
        "READINESS_ATTESTATIONS",
        "YAML file of attested human items (who, when, link)",
        "attestations.yml",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "production-readiness checklist")
    for option in OPTIONS:
        dest = option.ini
        env_note = f" [env {option.env}]" if option.env else ""
        group.addoption(option.flag, dest=dest, default=None, help=option.help + env_note)
        parser.addini(option.ini, option.help, default=option.default)


def _resolve(config: pytest.Config, option: Option) -> tuple[str | None, str]:
    value = config.getoption(option.ini)
    if value:
        return str(value), f"command line {option.flag}"
    if option.env and os.environ.get(option.env):
        return os.environ[option.env], f"environment variable {option.env}"
    ini_value = config.getini(option.ini)
    if ini_value:
        return str(ini_value), f"ini key {option.ini}"
    return option.default, "default"


def _check_url(value: str | None, source: str, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise pytest.UsageError(
            f"{source} must be a {' or '.join(schemes)} URL with a host, got {redact(value)!r}"
        )
    return value


def redact(url: str) -> str:
    """The URL with any password replaced, for headers and messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


def _env_secret(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


def new_standard_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class Secrets:
    """Shared secrets between the harness (which signs) and the service (which verifies)."""

    payments_webhook_secret: str
    stripe_webhook_secret: str
    admin_token: str
    paypal_webhook_id: str
    paypal_client_id: str
    paypal_client_secret: str
    generated: tuple[str, ...] = ()

    def service_environment(self) -> dict[str, str]:
        return {
            "PAYMENTS_WEBHOOK_SECRET": self.payments_webhook_secret,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            "ADMIN_TOKEN": self.admin_token,
            "PAYPAL_WEBHOOK_ID": self.paypal_webhook_id,
            "PAYPAL_CLIENT_ID": self.paypal_client_id,
            "PAYPAL_CLIENT_SECRET": self.paypal_client_secret,
        }


def load_secrets() -> Secrets:
    generated: list[str] = []

    def pick(name: str, make: str) -> str:
        value = _env_secret(name)
        if value is None:
            generated.append(name)
            return make
        return value

    return Secrets(
        payments_webhook_secret=pick("PAYMENTS_WEBHOOK_SECRET", new_standard_secret()),
        stripe_webhook_secret=pick("STRIPE_WEBHOOK_SECRET", "whsec_" + secrets.token_hex(24)),
        admin_token=pick("ADMIN_TOKEN", secrets.token_urlsafe(32)),
        paypal_webhook_id=pick("PAYPAL_WEBHOOK_ID", "WH-" + secrets.token_hex(8).upper()),
        paypal_client_id=pick("PAYPAL_CLIENT_ID", "harness-" + secrets.token_hex(6)),
        paypal_client_secret=pick("PAYPAL_CLIENT_SECRET", secrets.token_urlsafe(24)),
        generated=tuple(generated),
    )


@dataclass(frozen=True)
class HarnessSettings:
    target_url: str | None
    database_url: str | None
    redis_url: str | None
    features_dir: Path
    backup_path: Path | None
    reports_dir: Path
    inventory: Path | None
    waivers_file: Path
    attestations_file: Path
    ca_bundle: Path | None
    secrets: Secrets = field(repr=False)

    @property
    def embedded(self) -> bool:
        """True when the harness runs the reference service itself."""
        return self.target_url is None


def resolve_settings(config: pytest.Config) -> HarnessSettings:
    values = {option.ini: _resolve(config, option) for option in OPTIONS}
    target, target_source = values["readiness_target_url"]
    database, database_source = values["readiness_database_url"]
    redis_url, redis_source = values["readiness_redis_url"]
    features, _ = values["readiness_features_dir"]
    backup, _ = values["readiness_backup_path"]
    reports, _ = values["readiness_reports_dir"]
    inventory, _ = values["readiness_inventory"]
    waivers, _ = values["readiness_waivers"]
    ca_bundle, _ = values["readiness_ca_bundle"]
    attestations, _ = values["readiness_attestations"]
    root = config.rootpath
    return HarnessSettings(
        target_url=_check_url(target, target_source, ("http", "https")),
        database_url=_check_url(database, database_source, ("postgresql", "postgres")),
        redis_url=_check_url(redis_url, redis_source, ("redis", "rediss")),
        features_dir=root / (features or "features"),
        backup_path=Path(backup) if backup else None,
        reports_dir=root / (reports or "reports"),
        inventory=Path(inventory).resolve() if inventory else None,
        waivers_file=root / (waivers or "waivers.yml"),
        attestations_file=root / (attestations or "attestations.yml"),
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        secrets=load_secrets(),
    )
