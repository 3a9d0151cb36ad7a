"""The embedded Prometheus, Alertmanager and node_exporter: real, closed to other users of
the machine, on the faster clock, and Alertmanager delivering only to the harness."""

from __future__ import annotations

import httpx
import yaml

from readiness_harness.monitoring.embedded import EmbeddedMonitoring, harness_alertmanager_config
from readiness_harness.monitoring.receiver import AlertReceiver
from readiness_harness.target.resolve import REFERENCE_RULES


def test_every_server_refuses_a_caller_without_the_runs_password(monitoring: EmbeddedMonitoring) -> None:
    node = monitoring.describe()
    urls = [
        f"{monitoring.prometheus_url}/api/v1/query?query=up",
        f"{monitoring.alertmanager_url}/api/v2/alerts",
    ]
    with monitoring.prometheus() as client:
        urls += [t["scrapeUrl"] for t in client.targets() if t["labels"]["job"] == "node"]
    for url in urls:
        assert httpx.get(url, timeout=5).status_code == 401, url
        assert httpx.get(url, auth=("readiness", "guess"), timeout=5).status_code == 401, url
        assert httpx.get(url, auth=monitoring.auth, timeout=5).status_code == 200, url
    assert node["clock"].startswith("60 times faster")
    receiver = monitoring.receiver.url_for("oncall-pager")
    assert httpx.post(receiver, json={"alerts": []}, timeout=5).status_code == 401


def test_prometheus_scrapes_the_service_with_the_rules_on_the_faster_clock(
    monitoring: EmbeddedMonitoring,
) -> None:
    with monitoring.prometheus() as client:
        assert [s.value for s in client.vector('up{job="cardpack"}')] == [1.0]
        rules = client.rules()
        assert rules.get("WebhookFailureRateHigh").hold_s == 5  # type: ignore[union-attr]
        assert "[5s]" in rules.get("WebhookFailureRateHigh").expr  # type: ignore[union-attr]
        assert client.alertmanagers(), "Prometheus sends its alerts to Alertmanager"


def test_alertmanager_keeps_the_routing_tree_and_delivers_only_to_the_harness() -> None:
    config = yaml.safe_load((REFERENCE_RULES / "alertmanager.yml").read_text())
    with AlertReceiver() as receiver:
        rewritten, replaced = harness_alertmanager_config(config, receiver, 60, REFERENCE_RULES)
    assert replaced == {"oncall-pager": ["webhook_configs"], "ops-tickets": ["webhook_configs"]}
    text = yaml.safe_dump(rewritten)
    assert "127.0.0.1:9095" not in text, "the deployment's own receivers are never called"
    assert [r["matchers"] for r in rewritten["route"]["routes"]] == [
        r["matchers"] for r in config["route"]["routes"]
    ]
    assert (
        rewritten["route"]["group_wait"] == "500ms"
        and rewritten["route"]["routes"][0]["group_wait"] == "167ms"
    )
    for entry in rewritten["receivers"]:
        [hook] = entry["webhook_configs"]
        assert hook["url"] == receiver.url_for(entry["name"])
        assert hook["http_config"]["authorization"]["credentials"] == receiver.token.reveal()
