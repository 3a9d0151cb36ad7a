"""The embedded default: the reference deployment on servers the harness starts.

Real PostgreSQL and Redis (started here unless DATABASE_URL / REDIS_URL name servers to
use, whose data is never dropped), the PayPal API stand-in as a real HTTP server, and the
reference service as its own uvicorn process on a free loopback port (HTTPS with a
certificate made for the run, when asked). Nothing is patched into the service's
process: it reaches PayPal's stand-in over HTTP exactly as a deployment would.
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
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex, token_urlsafe

import httpx

from readiness_harness.gateways.paypal_sandbox import PayPalSandbox, SandboxCredentials
from readiness_harness.monitoring.error_sink import ErrorSink
from readiness_harness.settings.secrets import Secrets, remember
from readiness_harness.target.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError, free_port
from readiness_harness.target.tls import LocalCertificate, make_local_certificate

logger = logging.getLogger(__name__)

SERVICE_START_TIMEOUT_S = 60.0


def private_folder(prefix: str) -> Path:
    """A new temporary folder only this user can enter (mkdtemp makes it 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o700)
    return folder


class SubprocessService:
    """The reference service as its own process (uvicorn, N workers): it can be killed."""

    def __init__(
        self,
        settings_env: Mapping[str, str],
        port: int | None = None,
        workers: int = 1,
        log_path: Path | None = None,
        certificate: LocalCertificate | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.env = {**os.environ, **settings_env}
        self.host = host
        self.port = port or free_port()
        self.workers = workers
        self.certificate = certificate
        self._own_folder = private_folder("readiness-service-")
        self.log_path = log_path or self._own_folder / "service.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        if self.certificate is None:
            return True
        return ssl.create_default_context(cafile=str(self.certificate.ca_file))

    def command(self) -> list[str]:
        """The service's own launcher, with its production launch settings (header limits,
        read timeouts, concurrency limit, JSON logs)."""
        return [
            sys.executable,
            "-m",
            "cardpack_service",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]

    def launch_environment(self) -> dict[str, str]:
        env = {"LOG_LEVEL": "warning", "GRACEFUL_SHUTDOWN_S": "5"}
        if self.certificate is not None:
            env["SSL_CERTFILE"] = str(self.certificate.cert_file)
            env["SSL_KEYFILE"] = str(self.certificate.key_file)
        return env

    def start(self, timeout: float = SERVICE_START_TIMEOUT_S) -> None:
        env = {**self.env, **self.launch_environment()}
        if self.workers > 1:
            metrics_dir = self._own_folder / "metrics"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(mode=0o700)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"the reference service exited with {self.process.returncode}: "
                    f"{self.log_path.read_text(errors='replace')[-2000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1, verify=self.verify).status_code == 200:
                    return
            time.sleep(0.1)
        self.kill()
        raise EmbeddedServerError(f"the reference service did not answer /health within {timeout:.0f}s")

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, requests cut mid-flight."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self._own_folder, ignore_errors=True)


def service_environment(
    database_url: str,
    redis_url: str,
    secrets: Secrets,
    paypal_api_base: str,
    backup_path: str | None = None,
    log_file: Path | None = None,
    error_sink_url: str | None = None,
) -> dict[str, str]:
    """The reference service's settings for a deployment on these servers: with
    `log_file`, its JSON log lines go there too (LOG_FILE); with `error_sink_url`, it
    reports unhandled errors there (ERROR_SINK_URL)."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PAYPAL_API_BASE": paypal_api_base,
        "REQUIRE_WEBHOOK_SIGNATURE": "true",
        **secrets.service_environment(),
    }
    if backup_path:
        env["BACKUP_PATH"] = backup_path
    if log_file is not None:
        env["LOG_FILE"] = str(log_file)
    if error_sink_url:
        env["ERROR_SINK_URL"] = error_sink_url
    return env


def prepare_service_database(owner_url: str, stack: contextlib.ExitStack, *, servers_given: bool) -> str:
    """Apply the schema as the owner and return the URL the service connects with: a role
    of its own for this run that owns nothing (cardpack_service.migrate grants it exactly
    what the service needs), dropped again at exit on servers the harness did not start.
    On given servers whose user may not create roles, the service runs as that user
    (logged as a warning: least privilege is then the deployment's to arrange)."""
    from cardpack_service.migrate import MigrationError, drop_service_role, migrate, service_url

    role = f"cardpack_service_{token_hex(4)}"
    password = token_urlsafe(24)
    remember(password)  # scrubbed from whatever the run writes, like every other secret
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


def sandbox_credentials(secrets: Secrets) -> SandboxCredentials:
    return SandboxCredentials(
        secrets.paypal_client_id, secrets.paypal_client_secret, secrets.paypal_webhook_id
    )


@dataclass
class EmbeddedDeployment:
    """The reference deployment the harness started, and its parts."""

    service: SubprocessService
    database_url: str
    redis_url: str
    secrets: Secrets
    postgres: EmbeddedPostgres | None
    redis: EmbeddedRedis | None
    sandbox: PayPalSandbox | None
    paypal_api_base: str
    certificate: LocalCertificate | None
    log_file: Path | None = None
    """The service's JSON log (LOG_FILE): the embedded default's aggregated logs."""
    error_sink: ErrorSink | None = None
    """The sink the service reports unhandled errors to (ERROR_SINK_URL)."""

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def ca_file(self) -> Path | None:
        return self.certificate.ca_file if self.certificate else None

    def stopped_parts(self) -> list[str]:
        """What of the deployment is not running right now (after an outage, say)."""
        parts = []
        if self.postgres is not None and not self.postgres.is_running():
            parts.append("database")
        if self.redis is not None and not self.redis.is_running():
            parts.append("cache")
        if not self.service.is_running():
            parts.append("service")
        return parts


@contextlib.contextmanager
def embedded_stack(
    secrets: Secrets,
    database_url: str | None = None,
    redis_url: str | None = None,
    port: int | None = None,
    tls: bool = False,
    paypal_api_base: str | None = None,
    host: str = "127.0.0.1",
    workers: int = 1,
) -> Iterator[EmbeddedDeployment]:
    """Servers (unless given), the PayPal stand-in (unless `paypal_api_base` names a PayPal
    API to use) and the service; everything stopped and removed on exit, also on Ctrl-C.
    With `tls`, the service serves HTTPS with a certificate made for this run."""
    with contextlib.ExitStack() as stack:
        certificate = None
        if tls:
            folder = private_folder("readiness-tls-")
            stack.callback(shutil.rmtree, folder, ignore_errors=True)
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
        sandbox = None
        if paypal_api_base is None:
            sandbox = stack.enter_context(PayPalSandbox(sandbox_credentials(secrets)))
            paypal_api_base = sandbox.api_base
        service_db = prepare_service_database(database_url, stack, servers_given=postgres is None)
        logs = private_folder("readiness-logs-")
        stack.callback(shutil.rmtree, logs, ignore_errors=True)
        log_file = logs / "service.jsonl"
        error_sink = stack.enter_context(ErrorSink())
        service = SubprocessService(
            service_environment(
                service_db,
                redis_url,
                secrets,
                paypal_api_base,
                log_file=log_file,
                error_sink_url=error_sink.url.reveal(),
            ),
            port,
            workers=workers,
            certificate=certificate,
            host=host,
        )
        stack.callback(service.cleanup)
        service.start()
        logger.info("reference service at %s", service.url)
        yield EmbeddedDeployment(
            service,
            database_url,
            redis_url,
            secrets,
            postgres,
            redis_server,
            sandbox,
            paypal_api_base,
            certificate,
            log_file=log_file,
            error_sink=error_sink,
        )
