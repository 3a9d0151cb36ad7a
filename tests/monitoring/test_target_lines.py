"""The monitoring lines against a deployment addressed only by URL: its own Prometheus and
Alertmanager given by option (here the reference service with real ones beside it, run by
this test), and "not measured", naming the option, without them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from readiness_harness.monitoring.embedded import EmbeddedMonitoring
from readiness_harness.target.stack import EmbeddedDeployment

REPOSITORY = Path(__file__).resolve().parents[2]
LINES = "monitoring_enabled or key_metrics or alerting_configured or alert_thresholds or alert_rules_tested"


def _checklist(tmp_path: Path, deployment: EmbeddedDeployment, *options: str) -> dict[str, dict[str, Any]]:
    """Run the monitoring lines against the deployment; its lines by tag."""
    output = tmp_path / "readiness.json"
    env = {
        **os.environ,
        **deployment.secrets.service_environment(),
        "READINESS_REPORTS_DIR": str(tmp_path / "reports"),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "features/monitoring.feature",
            "-p",
            "no:cacheprovider",
            "-q",
            "-m",
            LINES,
            f"--target-url={deployment.url}",
            f"--ca-bundle={deployment.ca_file}",
            "--gateways=stripe,standard",
            f"--readiness-json={output}",
            *options,
        ],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert output.exists(), result.stdout[-3000:] + result.stderr[-2000:]
    lines = json.loads(output.read_text())["lines"]
    by_tag = {}
    for line in lines:
        for tag in line["tags"]:
            by_tag[tag] = line
    return by_tag


def _url_with_password(url: str, monitoring: EmbeddedMonitoring) -> str:
    user, password = monitoring.auth
    return url.replace("http://", f"http://{user}:{password}@")


def test_a_deployments_own_prometheus_and_alertmanager_measure_its_lines(
    tmp_path: Path, deployment: EmbeddedDeployment, monitoring: EmbeddedMonitoring
) -> None:
    lines = _checklist(
        tmp_path,
        deployment,
        f"--prometheus-url={_url_with_password(monitoring.prometheus_url, monitoring)}",
        f"--alertmanager-url={_url_with_password(monitoring.alertmanager_url, monitoring)}",
        f"--alert-rules={REPOSITORY / 'reference_service' / 'monitoring'}",
    )
    for tag in ("monitoring_enabled", "alerting_configured", "alert_thresholds", "alert_rules_tested"):
        assert lines[tag]["state"] == "verified", (tag, lines[tag]["messages"])
    metrics = {example["params"]["metric"]: example for example in lines["key_metrics"]["examples"]}
    for name in (
        "webhook processing success rate",
        "payment processing latency",
        "system uptime",
        "error rate",
    ):
        assert metrics[name]["state"] == "verified", (name, metrics[name]["message"])
        assert metrics[name]["evidence"]["key_metric"]["query"], "the query is evidence"
    drill = metrics["restore drill success rate"]
    assert drill["state"] == "not measured" and "--drill-history" in drill["message"], drill["message"]
    text = json.dumps(lines)
    assert monitoring.password.reveal() not in text, "the Prometheus password never reaches the report"


def test_without_them_the_lines_are_not_measured_and_name_the_option(
    tmp_path: Path, deployment: EmbeddedDeployment
) -> None:
    lines = _checklist(tmp_path, deployment)
    expected = {
        "monitoring_enabled": "--prometheus-url",
        "alerting_configured": "--alert-rules or --prometheus-url",
        "alert_thresholds": "--alert-rules or --prometheus-url",
        "alert_rules_tested": "--alert-rules",
    }
    for tag, option in expected.items():
        assert lines[tag]["state"] == "not measured", (tag, lines[tag]["state"])
        assert any(option in message for message in lines[tag]["messages"]), (tag, lines[tag]["messages"])
