"""Service settings, read from the environment once per process (not at import)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PAYPAL_LIVE_API = "https://api-m.paypal.com"


class Settings(BaseSettings):
    """Every knob the service has. Secrets, and URLs that may carry one, are `SecretStr`
    so they never print."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    database_url: SecretStr = SecretStr("postgresql://cardpack_service@127.0.0.1:5432/readiness")
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # The schema: applied by `python -m cardpack_service.migrate` before the service starts
    # (the service role then owns nothing); or, at start, by the service itself: with the
    # owner's MIGRATION_DATABASE_URL (grants DATABASE_URL's role exactly what it needs), or
    # with MIGRATE_ON_START=true over DATABASE_URL (one URL; the service owns its tables).
    migration_database_url: SecretStr | None = None
    migrate_on_start: bool = False

    payments_webhook_secret: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    paypal_webhook_id: str | None = None
    paypal_api_base: str = PAYPAL_LIVE_API
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None

    admin_token: SecretStr | None = None
    backup_path: str | None = None

    require_webhook_signature: bool = True
    signature_tolerance_s: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    # Per worker process. A few connections per database core is the sweet spot: more
    # only add contention (measured with bench/load_benchmark.py on 2 cores: at 32 in
    # flight, p99 70 ms with 16 per worker, 58 ms with 8, 40 ms with 4, same throughput).
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=8, ge=1)
    # How long a request waits for a database connection before answering 503: short,
    # so gateways get a quick retryable answer during an outage.
    db_timeout_s: float = Field(default=2.0, gt=0)

    # Requests in flight per worker beyond which the service answers 503 with Retry-After
    # at once (GET /health excepted), instead of queueing without bound.
    max_concurrent_requests: int = Field(default=256, ge=1)
    # Deliveries refused before their signature was verified are audited in full for the
    # first N per gateway and interval (per worker); the rest are counted and written as
    # one aggregated row per gateway and interval. Every refusal is in the metrics.
    audit_unverified_per_interval: int = Field(default=100, ge=0)
    audit_unverified_interval_s: float = Field(default=60.0, gt=0)
    # /status reads row counts at most this often (the dependency checks stay live).
    status_counts_ttl_s: float = Field(default=5.0, ge=0)

    # Observability: the name /health and every log line give (default "<host>:<pid>"),
    # a file that gets the JSON log lines too (mode 0600), and an HTTP(S) endpoint that
    # gets a JSON report of every unhandled error.
    instance_name: str | None = Field(default=None, max_length=200)
    log_file: str | None = None
    error_sink_url: SecretStr | None = None

    @field_validator("error_sink_url")
    @classmethod
    def _http_sink(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in ("http", "https"):
            raise ValueError("ERROR_SINK_URL must be an http:// or https:// URL")
        return value

    def instance(self) -> str:
        """This process's name in /health and the logs."""
        return self.instance_name or f"{socket.gethostname()}:{os.getpid()}"

    def secret_values(self) -> list[str]:
        """Every secret value this process holds, for scrubbing text that leaves it."""
        values = [
            self.payments_webhook_secret,
            self.stripe_webhook_secret,
            self.paypal_client_secret,
            self.admin_token,
        ]
        found = [value.get_secret_value() for value in values if value is not None]
        found += [
            value.removeprefix("whsec_") for value in found if value.startswith("whsec_") and len(value) > 10
        ]
        for url in (self.database_url, self.migration_database_url):
            if url is not None:
                found.append(_conninfo_password(url.get_secret_value()) or "")
        for url in (self.redis_url, self.error_sink_url):
            if url is not None:
                found.append(_url_password(url.get_secret_value()) or "")
        return [value for value in found if len(value) >= 6]


def _conninfo_password(conninfo: str) -> str | None:
    """The password of a PostgreSQL URL or key=value connection string."""
    try:
        password = conninfo_to_dict(conninfo).get("password")
    except psycopg.ProgrammingError:
        return None
    return None if password is None else str(password)


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
