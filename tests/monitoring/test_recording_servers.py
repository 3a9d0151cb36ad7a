"""The error sink and the alert receiver answer only callers that hold the run's token,
and keep what they were sent, for the lines to read."""

from __future__ import annotations

import time

import httpx

from readiness_harness.monitoring.error_sink import ErrorSink
from readiness_harness.monitoring.receiver import AlertReceiver
from readiness_harness.settings.secrets import scrub


def test_the_error_sink_takes_reports_only_at_its_secret_url() -> None:
    with ErrorSink() as sink:
        url = sink.url.reveal()
        assert httpx.post(f"{sink.base_url}/errors", json={"event_id": "x"}).status_code == 401
        assert (
            httpx.post(url.replace(sink.token.reveal(), "guess"), json={"event_id": "x"}).status_code == 401
        )
        assert httpx.post(url, json={"event_id": "evt_1", "exception": "Boom"}).status_code == 200
        assert sink.wait_for_event("evt_1", timeout=1) == {"event_id": "evt_1", "exception": "Boom"}
        assert sink.wait_for_event("evt_2", timeout=0.2) is None
        assert [report["event_id"] for report in sink.reports()] == ["evt_1"]
        assert sink.token.reveal() not in scrub(f"sink at {url}"), (
            "the token is scrubbed from anything written"
        )


def test_the_receiver_tells_which_receiver_got_which_alert() -> None:
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "oncall-pager",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "A", "severity": "page", "gateway": "stripe"},
                "annotations": {"summary": "s"},
            }
        ],
    }
    with AlertReceiver() as receiver:
        since = time.time() - 1
        headers = {"Authorization": f"Bearer {receiver.token.reveal()}"}
        assert httpx.post(receiver.url_for("oncall-pager"), json=payload).status_code == 401
        assert httpx.post(receiver.url_for("oncall-pager"), json=payload, headers=headers).status_code == 200
        note = receiver.wait_for("A", {"gateway": "stripe"}, since=since, timeout=1)
        assert note is not None and note.receiver == "oncall-pager" and note.annotations == {"summary": "s"}
        assert receiver.wait_for("A", {"gateway": "paypal"}, since=since, timeout=0.2) is None
        assert receiver.wait_for("A", {}, since=time.time() + 60, timeout=0.2) is None, "older than `since`"
