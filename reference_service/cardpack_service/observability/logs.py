"""JSON log lines: one object per line, for log shippers (Loki, Vector, CloudWatch...).

Every delivery writes one line on the `cardpack_service.deliveries` logger:

  {"ts": "...", "level": "info", "logger": "cardpack_service.deliveries",
   "message": "webhook delivery", "instance": "web-1:4242", "event_id": "evt_...",
   "gateway": "stripe", "type": "payment.captured", "outcome": "accepted", "status": 200,
   "latency_ms": 3.1, "payment_id": "pi_..."}

Never a secret, signature, header or body: only the fields above, and every string goes
through the Redactor. `python -m cardpack_service` sends every logger's lines to stderr
in this format (`logging_config`); LOG_FILE sends them to that file too (created 0600),
whoever runs the app (`attach_log_file`).
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings, get_settings
from .redaction import Redactor

DELIVERY_LOGGER = "cardpack_service.deliveries"
delivery_log = logging.getLogger(DELIVERY_LOGGER)

FIELDS_ATTRIBUTE = "cardpack_fields"
"""LogRecord attribute holding a dict of structured fields (`extra={FIELDS_ATTRIBUTE: ...}`)."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record, secrets scrubbed. Built by logging's dictConfig in each
    worker, so it reads the instance name and the secrets from the process's settings."""

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._redact: Redactor | None = None
        self._instance: str | None = None

    def _prepare(self) -> tuple[Redactor, str]:
        if self._redact is None or self._instance is None:
            settings = self._settings or get_settings()
            self._redact = Redactor(settings.secret_values())
            self._instance = settings.instance()
        return self._redact, self._instance

    def format(self, record: logging.LogRecord) -> str:
        redact, instance = self._prepare()
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            "instance": instance,
        }
        fields = getattr(record, FIELDS_ATTRIBUTE, None)
        if isinstance(fields, dict):
            for key, value in fields.items():  # ids, names, numbers: the known values suffice
                line[key] = redact.values(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["traceback"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(line, ensure_ascii=False, default=str)


def log_delivery(
    *,
    event_id: str | None,
    gateway: str,
    event_type: str | None,
    outcome: str,
    status: int,
    latency_s: float,
    payment_id: str | None,
) -> None:
    """The delivery's log line (cheap when INFO is off for the deliveries logger)."""
    if not delivery_log.isEnabledFor(logging.INFO):
        return
    delivery_log.info(
        "webhook delivery",
        extra={
            FIELDS_ATTRIBUTE: {
                "event_id": event_id[:255] if event_id else None,
                "gateway": gateway,
                "type": event_type[:100] if event_type else None,
                "outcome": outcome,
                "status": status,
                "latency_ms": round(latency_s * 1000, 3),
                "payment_id": payment_id[:255] if payment_id else None,
            }
        },
    )


class PrivateFileHandler(logging.FileHandler):
    """Appends to a file that only its owner may read (0600, also when it existed)."""

    def _open(self) -> Any:
        path = Path(self.baseFilename)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(descriptor, 0o600)
        return os.fdopen(descriptor, "a", encoding=self.encoding or "utf-8", errors=self.errors)


def attach_log_file(settings: Settings) -> logging.Handler | None:
    """LOG_FILE: every `cardpack_service` log line, deliveries included, as JSON there.
    Returns the handler (detach it with `detach_log_file`), or None without LOG_FILE."""
    if not settings.log_file:
        return None
    handler = PrivateFileHandler(settings.log_file, encoding="utf-8")
    handler.setFormatter(JsonFormatter(settings))
    handler.setLevel(logging.INFO)
    logging.getLogger("cardpack_service").addHandler(handler)
    if delivery_log.level == logging.NOTSET:
        delivery_log.setLevel(logging.INFO)  # delivery lines are INFO; the root is often WARNING
    return handler


def detach_log_file(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger("cardpack_service").removeHandler(handler)
        handler.close()


def logging_config(level: str = "info") -> dict[str, Any]:
    """dictConfig for `python -m cardpack_service`: every line JSON on stderr, delivery
    lines included, uvicorn's own too (its access log stays off: the delivery lines say
    more, and no other route needs one)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cardpack_service.observability.logs.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level.upper(), "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            DELIVERY_LOGGER: {"handlers": [], "level": "INFO", "propagate": True},
        },
    }
