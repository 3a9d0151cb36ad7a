"""The error sink the embedded default reports unhandled errors to (ERROR_SINK_URL).

The reference service POSTs one JSON report per unhandled error (service, instance,
route, method, path, event_id, exception, message, traceback frames; never a secret).
The sink's URL carries the run's random token as its first path segment, since the
service can only be given a URL; `url` is a `Secret` for that reason.
"""

from __future__ import annotations

from typing import Any

from readiness_harness.monitoring.recording_server import RecordingServer
from readiness_harness.settings.secrets import Secret


class ErrorSink(RecordingServer):
    name = "error sink"

    @property
    def url(self) -> Secret:
        return Secret(f"{self.base_url}/{self.token.reveal()}/errors")

    def reports(self) -> list[dict[str, Any]]:
        return [
            item.document
            for item in self.received
            if item.path == "/errors" and isinstance(item.document, dict)
        ]

    def wait_for_event(self, event_id: str, timeout: float) -> dict[str, Any] | None:
        found = self.wait(
            lambda item: isinstance(item.document, dict) and item.document.get("event_id") == event_id,
            timeout,
        )
        return found.document if found is not None else None
