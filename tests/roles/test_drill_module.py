"""readiness_harness.drill.playbooks without running a playbook: project discovery, environment,
report reading. (The role tests exercise run_playbook itself.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from readiness_harness.drill import playbooks as drill
from readiness_harness.drill.playbooks import DrillError, playbook_env, project_dir, read_drill_report

REPO = Path(__file__).resolve().parents[2]


def test_project_dir_is_the_checkout_holding_the_playbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(drill.PROJECT_DIR_ENV, raising=False)
    monkeypatch.chdir("/")
    assert project_dir() == REPO
    for name in drill.PLAYBOOKS:
        assert (project_dir() / "playbooks" / f"{name}.yml").is_file()


def test_project_dir_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    assert project_dir(tmp_path) == tmp_path
    monkeypatch.setenv(drill.PROJECT_DIR_ENV, str(tmp_path))
    assert project_dir() == tmp_path


def test_a_wrong_override_is_an_error_not_a_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(DrillError, match=r"the project_dir argument names .* no playbooks/"):
        project_dir(tmp_path)
    monkeypatch.setenv(drill.PROJECT_DIR_ENV, str(tmp_path))
    with pytest.raises(DrillError, match=r"\$READINESS_PROJECT_DIR names .* no playbooks/"):
        project_dir()


def test_unknown_playbooks_are_refused_before_anything_runs() -> None:
    with pytest.raises(DrillError, match=r"no playbook .*nope\.yml; known: backup, restore_drill"):
        drill.run_playbook("nope", {})


def test_playbook_env_puts_this_venv_first_and_keeps_the_callers_settings() -> None:
    venv_bin = str(Path(sys.executable).parent)
    env = playbook_env({"PATH": f"/usr/bin:{venv_bin}:/bin", "DATABASE_URL": "postgresql://x/y"})
    assert env["PATH"] == f"{venv_bin}:/usr/bin:/bin"
    assert env["DATABASE_URL"] == "postgresql://x/y"
    assert env["ANSIBLE_NOCOLOR"] == "1"


def test_read_drill_report(tmp_path: Path) -> None:
    report = tmp_path / "latest.json"
    report.write_text(json.dumps({"passed": True, "restore_seconds": 1.5}))
    assert read_drill_report(report) == {"passed": True, "restore_seconds": 1.5}


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "no drill report at .*: has the drill run"),
        ("{not json", "cannot read the drill report"),
        ('["passed"]', "is not a drill report"),
        ('{"ok": true}', "is not a drill report"),
    ],
)
def test_read_drill_report_explains_what_is_wrong(tmp_path: Path, content: str | None, error: str) -> None:
    report = tmp_path / "latest.json"
    if content is not None:
        report.write_text(content)
    with pytest.raises(DrillError, match=error):
        read_drill_report(report)


def test_the_benchmark_explains_itself() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "drill_benchmark.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "--cards" in result.stdout and "pg_restore" in result.stdout


def test_playbooks_run_with_ssh_pipelining_and_the_accelerator_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(drill.ACCELERATOR_ENV, raising=False)
    plain = playbook_env({})
    assert plain["ANSIBLE_PIPELINING"] == "True"
    assert "ANSIBLE_STRATEGY" not in plain
    accelerated = playbook_env({}, accelerator="mitogen")
    assert accelerated["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(accelerated["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    monkeypatch.setenv(drill.ACCELERATOR_ENV, "mitogen")
    assert playbook_env({})["ANSIBLE_STRATEGY"] == "mitogen_linear"
    monkeypatch.setenv(drill.ACCELERATOR_ENV, "turbo")
    with pytest.raises(
        DrillError, match=r"READINESS_ANSIBLE_ACCELERATOR='turbo': expected one of none, mitogen"
    ):
        playbook_env({})
