"""`python -m cardpack_service`: the service under uvicorn with production launch settings.

Launch settings come from the environment (flags override the first three):

  HOST, PORT, WORKERS              where to listen (127.0.0.1, 8000) and how many processes (1)
  HTTP_MAX_HEADER_BYTES            request line + headers, at most (16384); beyond: 431
  HTTP_MAX_HEADERS                 header fields, at most (100); beyond: 431
  HTTP_HEADER_TIMEOUT_S            headers must be in within this (10 s); else 408 / close
  HTTP_BODY_TIMEOUT_S              the body must be in within this after them (10 s); else 408
  HTTP_KEEPALIVE_TIMEOUT_S         an idle kept-alive connection is closed after this (5 s)
  GRACEFUL_SHUTDOWN_S              on SIGTERM, requests in flight get this long (10 s)
  SSL_CERTFILE, SSL_KEYFILE        serve HTTPS with this certificate and key
  LOG_LEVEL                        info (default), warning, error, debug

The service's own settings (DATABASE_URL, secrets, MAX_CONCURRENT_REQUESTS, ...) are
read by the app from the same environment (cardpack_service.config). Every log line goes
to stderr as JSON (cardpack_service.observability.logs), uvicorn's included.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn import Server
from uvicorn.supervisors import Multiprocess

from ..config import Settings
from ..observability.logs import logging_config
from .protocol import GuardedConfig, HttpLimits

EXIT_BAD_SETTINGS = 2
EXIT_STARTUP_FAILED = 3  # uvicorn's own code for a failed startup


class LaunchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    http_max_headers: int = Field(default=100, ge=10, le=1000)
    http_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    http_body_timeout_s: float = Field(default=10.0, gt=0, le=600)
    http_keepalive_timeout_s: int = Field(default=5, ge=1, le=3600)
    graceful_shutdown_s: int = Field(default=10, ge=0, le=600)
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    log_level: str = Field(default="info", pattern=r"^(?i:critical|error|warning|info|debug)$")

    def limits(self) -> HttpLimits:
        return HttpLimits(
            max_header_bytes=self.http_max_header_bytes,
            max_headers=self.http_max_headers,
            header_timeout_s=self.http_header_timeout_s,
            body_timeout_s=self.http_body_timeout_s,
        )


def server_config(launch: LaunchSettings) -> GuardedConfig:
    """The uvicorn configuration for these launch settings (the app is built in each
    worker by `create_app`, from the environment)."""
    return GuardedConfig(
        "cardpack_service.main:create_app",
        factory=True,
        host=launch.host,
        port=launch.port,
        workers=launch.workers,
        http_limits=launch.limits(),
        timeout_keep_alive=launch.http_keepalive_timeout_s,
        timeout_graceful_shutdown=launch.graceful_shutdown_s,
        ssl_certfile=launch.ssl_certfile,
        ssl_keyfile=launch.ssl_keyfile,
        log_config=logging_config(launch.log_level),
        log_level=launch.log_level.lower(),
        access_log=False,  # one JSON line per delivery says more; nothing else needs one
        server_header=False,  # no need to tell every scanner the server's name
        lifespan="on",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cardpack_service",
        description="Run the card-pack webhook service under uvicorn with production launch settings.",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="listen address (default: $HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (default: $PORT or 8000)")
    parser.add_argument("--workers", type=int, help="worker processes (default: $WORKERS or 1)")
    return parser


def _describe(exc: ValidationError, prefix: str = "") -> str:
    """Which setting is wrong and why, never the value (it may be a secret)."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{prefix}{name}: {error['msg']}")
    return "; ".join(problems)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {name: value for name, value in vars(args).items() if value is not None}
    try:
        launch = LaunchSettings(**overrides)
        Settings()  # the app's settings, checked here once so a bad value fails before binding
    except ValidationError as exc:
        sys.stderr.write(f"bad setting: {_describe(exc)}\n")
        return EXIT_BAD_SETTINGS
    config = server_config(launch)
    server = Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    server.run()
    return 0 if server.started else EXIT_STARTUP_FAILED
