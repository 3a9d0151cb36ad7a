"""The system under test: a deployed service, or the embedded default.

The embedded default is real PostgreSQL and Redis (started here unless DATABASE_URL /
REDIS_URL name servers to use, whose data is never dropped) plus the reference service
served by uvicorn on a free loopback port, with PayPal's API answered by the sandbox.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex, token_urlsafe

import httpx
import uvicorn

from readiness_harness.gateways.paypal_sandbox import SANDBOX_API_BASE, PayPalSandbox
from readiness_harness.settings.options import Secrets
from readiness_harness.target.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError, free_port
from readiness_harness.target.tls import LocalCertificate, make_local_certificate

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
    ca_file: Path | None = None
    """CA bundle that verifies the target's certificate (None: the system trust store)."""

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What HTTP clients pass as `verify=` for this target."""
        if self.ca_file is None:
            return True
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def embedded(self) -> bool:
        return self.postgres is not None or self.paypal is not None


class InProcessService:
    """uvicorn serving the reference app in a background thread of this process."""

    def __init__(
        self,
        settings_env: dict[str, str],
        port: int | None = None,
        certificate: LocalCertificate | None = None,
    ) -> None:
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
            ssl_certfile=str(certificate.cert_file) if certificate else None,
            ssl_keyfile=str(certificate.key_file) if certificate else None,
        )
        self.certificate = certificate
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="reference-service", daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise EmbeddedServerError("the reference service failed to start (see its log)")
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"the reference service did not start in {timeout:.0f}s")
            time.sleep(0.05)
        verify: ssl.SSLContext | bool = True
        if self.certificate:
            verify = ssl.create_default_context(cafile=str(self.certificate.ca_file))
        httpx.get(f"{self.url}/health", timeout=5, verify=verify).raise_for_status()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def prepare_service_database(owner_url: str, stack: contextlib.ExitStack, *, servers_given: bool) -> str:
    """Apply the schema as the owner and return the URL the service connects with: a role
    of its own for this run that owns nothing (cardpack_service.migrate grants it exactly
    what the service needs), dropped again at exit on servers the harness did not start.
    On given servers whose user may not create roles, the service runs as that user
    (logged as a warning: least privilege is then the deployment's to arrange)."""
    from cardpack_service.migrate import MigrationError, drop_service_role, migrate, service_url

    role = f"cardpack_service_{token_hex(4)}"
    password = token_urlsafe(24)
    try:
        migrate(owner_url, role, password)
    except MigrationError as exc:
        if not servers_given:
            raise
        logger.warning("the service runs as the given database user, not a role of its own: %s", exc)
        migrate(owner_url)
        return owner_url
    if servers_given:

        def drop() -> None:
            try:
                drop_service_role(owner_url, role)
            except Exception as exc:  # leaving a password-protected role behind is no failure
                logger.warning("could not drop the service role %s: %s", role, exc)

        stack.callback(drop)
    return service_url(owner_url, role, password)


def service_environment(
    target_db: str, target_redis: str, secrets: Secrets, backup_path: str | None = None
) -> dict[str, str]:
    """The service's environment; `target_db` is the URL it connects with (the role from
    `prepare_service_database`, or an owner URL for a service that owns its schema)."""
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
    tls: bool = False,
) -> Iterator[Target]:
    """Servers (unless given), the service and the PayPal sandbox; all stopped on exit.
    With `tls`, the service serves HTTPS with a certificate made for this run."""
    with contextlib.ExitStack() as stack:
        certificate = None
        if tls:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="readiness-tls-")))
            certificate = make_local_certificate(folder, days=30)
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
        service_db = prepare_service_database(database_url, stack, servers_given=postgres is None)
        paypal = PayPalSandbox(
            secrets.paypal_client_id, secrets.paypal_client_secret, secrets.paypal_webhook_id
        )
        stack.enter_context(paypal.mounted())
        service = InProcessService(service_environment(service_db, redis_url, secrets), port, certificate)
        stack.callback(service.stop)
        service.start()
        logger.info("reference service at %s", service.url)
        yield Target(
            service.url,
            secrets,
            database_url,
            redis_url,
            postgres,
            redis_server,
            paypal,
            certificate.ca_file if certificate else None,
        )


class SubprocessService:
    """The reference service as its own process (uvicorn, N workers): it can be killed."""

    def __init__(
        self,
        settings_env: dict[str, str],
        port: int | None = None,
        workers: int = 1,
        log_path: Path | None = None,
    ) -> None:
        self.env = {**os.environ, **settings_env}
        self.port = port or free_port()
        self.workers = workers
        self.log_path = log_path or Path(tempfile.mkstemp(prefix="readiness-service-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        self._metrics_dir: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = dict(self.env)
        if self.workers > 1:
            self._metrics_dir = tempfile.mkdtemp(prefix="readiness-metrics-")
            env["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "cardpack_service.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--log-level",
            "warning",
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"the service exited with {self.process.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise EmbeddedServerError(f"the service did not answer /health within {timeout:.0f}s")

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, requests cut mid-flight."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._metrics_dir:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            self._metrics_dir = None


@dataclass
class ControlledStack:
    """Servers and service the harness started itself, so it may stop and kill them."""

    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    service: SubprocessService
    secrets: Secrets

    @property
    def target(self) -> Target:
        return Target(
            self.service.url, self.secrets, self.postgres.url, self.redis.url, self.postgres, self.redis
        )


@contextlib.contextmanager
def controlled_stack(secrets: Secrets, workers: int = 1) -> Iterator[ControlledStack]:
    with contextlib.ExitStack() as stack:
        postgres = EmbeddedPostgres()
        stack.callback(postgres.cleanup)
        postgres.start()
        redis_server = EmbeddedRedis()
        stack.callback(redis_server.cleanup)
        redis_server.start()
        service_db = prepare_service_database(postgres.url, stack, servers_given=False)
        service = SubprocessService(
            service_environment(service_db, redis_server.url, secrets), workers=workers
        )
        stack.callback(service.log_path.unlink, missing_ok=True)
        stack.callback(service.stop)
        service.start()
        yield ControlledStack(postgres, redis_server, service, secrets)
