"""`readiness load` end to end: Locust headless and distributed against the reference
service, its reports and verdict, failing verdicts on defective services, bad input and
Ctrl-C. Figures are printed by the command, never asserted as timings here."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from defects import READINESS, Defect, DefectiveProxy

from readiness_harness.target.stack import EmbeddedDeployment

pytestmark = pytest.mark.slow


def _load(
    url: str, env: dict[str, str], output: Path, *extra: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            READINESS,
            "load",
            "--target-url",
            url,
            "--output",
            str(output),
            "--quiet",
            "--gateways",
            "stripe,standard",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _result(output: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((output / "load.json").read_text())
    return data


def _checks(output: Path) -> dict[str, bool]:
    return {check["name"]: check["passed"] for check in _result(output)["checks"]}  # type: ignore[attr-defined]


def test_one_process_run_writes_locust_reports_and_checks_every_payment(
    reference: EmbeddedDeployment, target_env: dict[str, str], tmp_path: Path
) -> None:
    run = _load(reference.url, target_env, tmp_path, "--run-time", "5", "--rate", "30", "--users", "6")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "LOAD TEST PASSED" in run.stdout
    for name in (
        "locust_stats.csv",
        "locust_stats_history.csv",
        "locust_failures.csv",
        "locust.html",
        "ledger.json",
    ):
        assert (tmp_path / name).is_file(), name
    result = _result(tmp_path)
    figures = result["figures"]
    assert isinstance(figures, dict)
    assert figures["requests"] == figures["locust_requests"] > 50
    assert set(figures["by_name"]) >= {"stripe capture", "standard capture"}
    held = result["exactly_once"]
    assert isinstance(held, dict)
    assert held["held"] and held["payments"] == held["checked"] == figures["payments"] > 0
    assert result["mode"] == "one Locust process"
    for secret in reference.secrets.values():
        assert secret.reveal() not in run.stdout + run.stderr
        assert secret.reveal() not in (tmp_path / "load.json").read_text()


def test_one_master_and_two_workers_merge_their_ledgers(
    reference: EmbeddedDeployment, target_env: dict[str, str], tmp_path: Path
) -> None:
    run = _load(
        reference.url,
        target_env,
        tmp_path,
        "--run-time",
        "5",
        "--rate",
        "30",
        "--users",
        "6",
        "--workers",
        "2",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = _result(tmp_path)
    assert result["mode"] == "one Locust master and 2 worker processes on this machine"
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert ledger["processes"] == 2
    log = (tmp_path / "locust.log").read_text()
    assert log.count("readiness.load: pre-signed ") == 2, "each worker signs its own share"
    assert _checks(tmp_path) == {
        "complete data": True,
        "success rate": True,
        "p99 latency": True,
        "exactly once": True,
    }


def test_a_burst_of_a_fixed_number_of_requests_ends_when_they_are_sent(
    reference: EmbeddedDeployment, target_env: dict[str, str], tmp_path: Path
) -> None:
    run = _load(reference.url, target_env, tmp_path, "--rate", "0", "--requests", "150", "--run-time", "60")
    assert run.returncode == 0, run.stdout + run.stderr
    figures = _result(tmp_path)["figures"]
    assert isinstance(figures, dict) and figures["requests"] == 150


@pytest.mark.parametrize("defective", [Defect(fail_every=20)], indirect=True)
def test_a_service_failing_five_percent_fails_the_load_test(
    defective: DefectiveProxy, target_env: dict[str, str], tmp_path: Path
) -> None:
    run = _load(defective.url, target_env, tmp_path, "--run-time", "5", "--rate", "30")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "LOAD TEST FAILED: success rate" in run.stdout
    checks = _checks(tmp_path)
    assert not checks["success rate"] and checks["exactly once"], "redelivery settles the failed captures"


@pytest.mark.parametrize("defective", [Defect(doubled_packs=True)], indirect=True)
def test_purchases_holding_two_packs_fail_exactly_once(
    defective: DefectiveProxy, target_env: dict[str, str], tmp_path: Path
) -> None:
    run = _load(defective.url, target_env, tmp_path, "--run-time", "3", "--rate", "20")
    assert run.returncode == 1, run.stdout + run.stderr
    assert not _checks(tmp_path)["exactly once"]
    assert "not one pack of 5" in run.stdout


@pytest.mark.parametrize("defective", [Defect(capture_delay_s=1.2)], indirect=True)
def test_slow_captures_fail_the_latency_criterion(
    defective: DefectiveProxy, target_env: dict[str, str], tmp_path: Path
) -> None:
    run = _load(defective.url, target_env, tmp_path, "--run-time", "4", "--rate", "10", "--max-p99", "1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert not _checks(tmp_path)["p99 latency"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rate", "0"], "needs --requests"),
        (["--rate", "0", "--requests", "10", "--run-time", "10m"], "lasts at most 240s"),
        (["--duplicates", "0.7", "--refunds", "0.5"], "sum is below 1"),
        (["--run-time", "soon"], "is not a duration"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    reference: EmbeddedDeployment,
    target_env: dict[str, str],
    tmp_path: Path,
    arguments: list[str],
    message: str,
) -> None:
    run = _load(reference.url, target_env, tmp_path, *arguments, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr


def test_a_target_without_the_admin_token_is_refused(
    reference: EmbeddedDeployment, target_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in target_env.items() if k != "ADMIN_TOKEN"}
    run = _load(reference.url, env, tmp_path, timeout=60)
    assert run.returncode == 2 and "ADMIN_TOKEN" in run.stderr


def _locust_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "locust" in cmdline and any(marker in part for part in cmdline):
            found.append(process)
    return found


def test_ctrl_c_stops_the_master_and_every_worker(
    reference: EmbeddedDeployment, target_env: dict[str, str], tmp_path: Path
) -> None:
    command = [
        READINESS,
        "load",
        "--target-url",
        reference.url,
        "--output",
        str(tmp_path),
        "--quiet",
        "--gateways",
        "standard",
        "--workers",
        "2",
        "--run-time",
        "120",
    ]
    with subprocess.Popen(
        command, env=target_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "pre-signed" not in _log(tmp_path):
            time.sleep(0.5)
        assert "pre-signed" in _log(tmp_path), "the run never started"
        workers = [p for p in _locust_processes(str(tmp_path))]
        assert workers, "no Locust process found"
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
        stderr = process.stderr.read() if process.stderr else ""
    assert code == 130, stderr
    assert "stopped every Locust process" in stderr and "Traceback" not in stderr
    time.sleep(1)
    assert not [
        p
        for p in psutil.process_iter()
        if p.pid in {w.pid for w in workers} and p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]


def _log(folder: Path) -> str:
    path = folder / "locust.log"
    return path.read_text(errors="replace") if path.exists() else ""
