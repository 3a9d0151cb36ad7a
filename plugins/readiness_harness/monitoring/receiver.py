"""The harness's alert receiver: Alertmanager's webhooks for the embedded default.

The embedded Alertmanager's receivers all post here, each to `/receivers/<name>`, so a
line can see which receiver an alert reached, with its labels and annotations exactly
as Alertmanager sent them (webhook payload version 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from readiness_harness.monitoring.recording_server import Received, RecordingServer

PATH_PREFIX = "/receivers/"


@dataclass(frozen=True)
class Notification:
    """One alert as a receiver got it."""

    receiver: str
    alert: Mapping[str, Any]
    """The alert: status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint."""
    payload: Mapping[str, Any]
    at: float

    @property
    def labels(self) -> Mapping[str, str]:
        return dict(self.alert.get("labels", {}))

    @property
    def annotations(self) -> Mapping[str, str]:
        return dict(self.alert.get("annotations", {}))

    def evidence(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "status": self.alert.get("status"),
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": self.alert.get("startsAt"),
            "groupKey": self.payload.get("groupKey"),
        }


class AlertReceiver(RecordingServer):
    name = "alert receiver"

    def url_for(self, receiver: str) -> str:
        return f"{self.base_url}{PATH_PREFIX}{receiver}"

    def notifications(self) -> list[Notification]:
        return [note for item in self.received for note in _notifications(item)]

    def wait_for(
        self, alertname: str, labels: Mapping[str, str], since: float, timeout: float, status: str = "firing"
    ) -> Notification | None:
        """The first notification of `alertname` with `labels` and `status` that arrived
        at or after `since` (Unix time)."""
        found: list[Notification] = []

        def match(item: Received) -> bool:
            if item.at < since:
                return False
            for note in _notifications(item):
                if (
                    note.labels.get("alertname") == alertname
                    and note.alert.get("status") == status
                    and all(note.labels.get(key) == value for key, value in labels.items())
                ):
                    found.append(note)
                    return True
            return False

        self.wait(match, timeout)
        return found[0] if found else None


def _notifications(item: Received) -> list[Notification]:
    if not item.path.startswith(PATH_PREFIX) or not isinstance(item.document, dict):
        return []
    receiver = item.path.removeprefix(PATH_PREFIX)
    return [
        Notification(receiver, alert, item.document, item.at)
        for alert in item.document.get("alerts", [])
        if isinstance(alert, dict)
    ]
