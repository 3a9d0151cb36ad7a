"""The system under test: a deployed service, or the embedded default.

The embedded default is real PostgreSQL and Redis (started here unless DATABASE_URL /
REDIS_URL name servers to use, whose data is never dropped) plus the reference service
served by uvicorn on a free loopback port, with PayPal's API answered by the sandbox.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import uvicorn

from .embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError, free_port
from .options import Secrets
from .paypal_sandbox import SANDBOX_API_BASE, PayPalSandbox

logger = logging.getLogger(__name__)


@dataclass
class Target:
    """Where the checklist runs, and what the harness controls there."""

    url: str
    secrets: Secrets
    database_url: str | None = None
    redis_url: str | None = None
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    paypal: PayPalSandbox | None = None

    @property
    def embedded(self) -> bool:
        return self.postgres is not None or self.paypal is not None


class InProcessService:
    """uvicorn serving the reference app in a background thread of this process."""

    def __init__(self, settings_env: dict[str, str], port: int | None = None) -> None:
        from cardpack_service.config import Settings
        from cardpack_service.main import create_app

        settings = Settings.model_validate({key.lower(): value for key, value in settings_env.items()})
        self.port = port or free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="reference-service", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise EmbeddedServerError("the reference service failed to start (see its log)")
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"the reference service did not start in {timeout:.0f}s")
            time.sleep(0.05)
        httpx.get(f"{self.url}/health", timeout=5).raise_for_status()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def service_environment(
    target_db: str, target_redis: str, secrets: Secrets, backup_path: str | None = None
) -> dict[str, str]:
    env = {
        "DATABASE_URL": target_db,
        "REDIS_URL": target_redis,
        "PAYPAL_API_BASE": SANDBOX_API_BASE,
        "REQUIRE_WEBHOOK_SIGNATURE": "true",
        **secrets.service_environment(),
    }
    if backup_path:
        env["BACKUP_PATH"] = backup_path
    return env


@contextlib.contextmanager
def embedded_stack(
    secrets: Secrets,
    database_url: str | None = None,
    redis_url: str | None = None,
    port: int | None = None,
) -> Iterator[Target]:
    """Servers (unless given), the service and the PayPal sandbox; all stopped on exit."""
    with contextlib.ExitStack() as stack:
        postgres: EmbeddedPostgres | None = None
        redis_server: EmbeddedRedis | None = None
        if database_url is None:
            postgres = EmbeddedPostgres()
            stack.callback(postgres.cleanup)
            postgres.start()
            database_url = postgres.url
        if redis_url is None:
            redis_server = EmbeddedRedis()
            stack.callback(redis_server.cleanup)
            redis_server.start()
            redis_url = redis_server.url
        paypal = PayPalSandbox(
            secrets.paypal_client_id, secrets.paypal_client_secret, secrets.paypal_webhook_id
        )
        stack.enter_context(paypal.mounted())
        service = InProcessService(service_environment(database_url, redis_url, secrets), port)
        stack.callback(service.stop)
        service.start()
        logger.info("reference service at %s", service.url)
        yield Target(service.url, secrets, database_url, redis_url, postgres, redis_server, paypal)
